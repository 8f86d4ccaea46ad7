"""Temporal activities: thin adapters over the engine (`engine/`), which knows nothing of Temporal.

Each module defines activities and does what only an activity does: heartbeats and attempt
confirmation (`keeper`), cancellation handed to the engine's stoppable threads, engine errors mapped
onto retryable or final `ApplicationError`s (`common`), logs bound to the activity (`logs`), and the
records Temporal's payload converter writes (`plans`, `manifest`). The work itself is the engine's.
At most 16 modules (tests/test_boundaries.py).
"""
