"""The Faust agents: thin loops that read typed records, call the pure core, emit typed records."""
