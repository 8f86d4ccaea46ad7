"""The media engine: ffmpeg graphs, encoder choice, text layout, probing. No Temporal here."""
