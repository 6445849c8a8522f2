"""Enforcement points: the Python SDK and the HTTP decision point for nginx and Envoy."""
