"""Test harness shipped with the library (as zarr ships ``zarr.testing``): not used by the library
itself. :mod:`lindi_core.testing.range_server` serves a folder over HTTP with byte ranges and
injected faults, for the demo, the tests and the benchmarks."""
