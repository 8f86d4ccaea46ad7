"""Benchmarks: each one a single command that prints ratios against a baseline measured in the same run.

Timing goals live here, never in the test suite: a shared or loaded machine would
make a timing assertion flaky, while a ratio taken in one run cancels most of it.
"""
