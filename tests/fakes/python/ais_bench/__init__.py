"""Fake ais_bench (tests only): `python3 -m ais_bench` behaves as ais_bench.md describes, without an NPU."""
