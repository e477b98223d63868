"""Benchmarks of the control plane (they print tables; they are not tests)."""
