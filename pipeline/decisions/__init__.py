"""Decisions: signed, expiring facts (block, revoke, lift) and the book that holds the live ones."""
