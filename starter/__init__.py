"""Start, watch and manage renders from Python: `from starter import RenderClient`."""

from starter.client import JobRefused, RenderClient, VideoStatus

__all__ = ["JobRefused", "RenderClient", "VideoStatus"]
