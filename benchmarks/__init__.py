"""Benchmarks: run by hand or `make bench`, never as pass/fail tests."""
