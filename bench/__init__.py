"""Benchmarks: the end-to-end load generator and the raw limits of the parts."""
