"""Temporal activities: thin wrappers (heartbeats, cancellation, errors) over the media engine."""
