"""The pure auth core: classification, fingerprints, validation and policy. No I/O."""
