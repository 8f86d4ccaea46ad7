"""Temporal workflows: deterministic orchestration only."""

from workflows.render_video import RenderVideo

__all__ = ["RenderVideo"]
