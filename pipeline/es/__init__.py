"""Elasticsearch adapters: clients, index templates and names, bulk indexing, queries."""
