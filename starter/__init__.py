"""Start, watch and manage renders from Python: `from starter import RenderClient`; `check` a job first."""

from activities.preflight import Problem, Report, check
from starter.client import JobRefused, RenderClient, VideoStatus

__all__ = ["JobRefused", "Problem", "RenderClient", "Report", "VideoStatus", "check"]
