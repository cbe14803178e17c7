"""Fake ais_bench (tests only): `python3 -m ais_bench` behaves as Huawei's ais_bench documentation describes,
without an NPU."""
