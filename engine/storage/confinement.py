"""Which URIs a job may touch: under the configured roots, symlinks followed for files."""

from __future__ import annotations

import os
from pathlib import Path

from contracts import names
from engine.storage.base import StorageError
from engine.storage.file import file_path


def confine(uri: str, roots: tuple[str, ...], field: str) -> str:
    """Refuse a URI outside the configured roots, following symlinks for files."""
    for root in roots:
        if uri.startswith("file://") and root.startswith("file://"):
            real = Path(os.path.realpath(file_path(uri)))
            if real.is_relative_to(Path(os.path.realpath(file_path(root)))):
                return uri
        elif uri.startswith(root.rstrip("/") + "/") and uri.startswith("s3://") and "/.." not in uri:
            return uri
    checked = nearest_root(uri, roots)
    where = f" (checked against {checked})" if checked else ""
    raise StorageError(f"{field}: {uri[:200]} is outside the allowed roots{where}", names.FORBIDDEN_PATH)


def nearest_root(uri: str, roots: tuple[str, ...]) -> str | None:
    """The root `uri` was meant to fall under, for an error message: one of the same scheme and bucket
    (or, for files, sharing the first directory), or None. Never the whole list: roots may be other tenants'."""

    def head(text: str) -> tuple[str, str]:
        scheme, _, rest = text.partition("://")
        return scheme, rest.strip("/").split("/", 1)[0]

    same = [root for root in roots if head(root) == head(uri)]

    def shared(root: str) -> int:
        pairs = zip(root.rstrip("/").split("/"), uri.split("/"), strict=False)
        return next((i for i, (a, b) in enumerate(pairs) if a != b), len(root.rstrip("/").split("/")))

    return max(same, key=shared, default=None)
