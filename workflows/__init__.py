"""Temporal workflows: deterministic orchestration only."""

from workflows.notify import NotifyWebhook
from workflows.render_video import RenderVideo

__all__ = ["NotifyWebhook", "RenderVideo"]
