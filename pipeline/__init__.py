"""restguard: an audit and enforcement pipeline for REST API authentication."""

__version__ = "0.1.0"
