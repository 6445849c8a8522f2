"""`python -m pipeline` is the `restguard` command."""

from pipeline.cli import main

main()
