"""The media engine: plans rendered into clips, audio, captions and files, with no Temporal in it.

Storage, the clip cache, checkpoints, fonts and layout, ffmpeg graphs, speech: everything a render does,
as plain Python and asyncio. `activities` adapts it to Temporal (heartbeats, cancellation, error
mapping); nothing here imports Temporal, the workflows or the activities, directly or not
(tests/test_boundaries.py proves it).
"""
