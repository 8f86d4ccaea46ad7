"""Start, watch and manage renders from Python: `from starter import RenderClient`; `check` a job first."""

from starter.check import Problem, Report, check
from starter.client import JobRefused, RenderClient, VideoStatus

__all__ = ["JobRefused", "Problem", "RenderClient", "Report", "VideoStatus", "check"]
