"""`restguard bench`: benchmarks of the real code on this machine, medians of repeated runs."""
