"""Benchmarks (`make bench`): numbers go to JSON, goals are compared but never asserted in tests."""
