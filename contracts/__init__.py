"""Data contracts shared by workflows, activities, workers and the starter.

Nothing in this package performs I/O, reads clocks or randomness: the workflow
sandbox imports it, so it must stay deterministic.
"""
