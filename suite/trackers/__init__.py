"""Measurement trackers (latency today; memory, energy and throughput share this package)."""
