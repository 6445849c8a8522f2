"""Kafka adapters: admin (topics), producers for the CLI, wire codecs."""
