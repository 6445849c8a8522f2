"""Detection: signals derived from judged calls, sliding windows per subject, rules, decisions."""
