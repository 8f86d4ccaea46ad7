"""Word boundaries for Khmer, Myanmar (Burmese) and Lao from ICU's dictionary-based break iterator.

These scripts write words with no space between them, so a line may only end where a
dictionary says a word ends. ICU ships one for each, and libicu is already on every machine
that runs ffmpeg (libxml2 depends on it); no Python ICU binding is installed, so it is called
through ctypes. Where libicu cannot be loaded, words are not found (one warning is logged) and
those scripts break between graphemes as before: a worker never fails over line breaks.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import structlog

log = structlog.get_logger(__name__)

UBRK_WORD = 1
UBRK_DONE = -1
_LIB_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib")


@dataclass(frozen=True)
class _Icu:
    open: Any
    first: Any
    next: Any
    close: Any
    version: str
    """Major version (the functions' suffix), "" where they carry none."""


def _candidates() -> list[str]:
    found = ctypes.util.find_library("icuuc")
    paths = [found] if found else []
    for folder in _LIB_DIRS:
        paths += sorted(glob.glob(os.path.join(folder, "libicuuc.so.*")), reverse=True)
    return paths


def _versions(path: str) -> list[str]:
    """Suffixes to try: the file name's major version, then none; a bare soname tries ICU 80 down to 50."""
    major = re.search(r"\.so\.(\d+)", os.path.realpath(path) if os.path.sep in path else path)
    return ([major.group(1)] if major else [str(v) for v in range(80, 49, -1)]) + [""]


def _bind(lib: ctypes.CDLL, version: str) -> _Icu | None:
    suffix = f"_{version}" if version else ""
    try:
        functions = [getattr(lib, f"ubrk_{name}{suffix}") for name in ("open", "first", "next", "close")]
    except AttributeError:
        return None
    open_, first, next_, close = functions
    open_.restype = ctypes.c_void_p
    open_.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int32, ctypes.POINTER(ctypes.c_int)]
    for function in (first, next_):
        function.restype = ctypes.c_int32
        function.argtypes = [ctypes.c_void_p]
    close.restype = None
    close.argtypes = [ctypes.c_void_p]
    return _Icu(open_, first, next_, close, version)


@lru_cache(maxsize=1)
def _icu() -> _Icu | None:
    """ICU's break iterator functions, or None (logged once) where libicu cannot be loaded."""
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for version in _versions(path):
            icu = _bind(lib, version)
            if icu is not None:
                return icu
    log.warning("libicu_missing", effect="Khmer, Myanmar and Lao lines break between characters, not words")
    return None


def icu_version() -> str | None:
    """The major version of the libicu in use ("" where its functions carry no suffix), or None where none loads."""
    icu = _icu()
    return icu.version if icu else None


@lru_cache(maxsize=4096)
def word_starts(text: str, locale: str) -> frozenset[int] | None:
    """Offsets (Python str indices) in `text` where ICU's word iterator puts a boundary,
    0 and len(text) included; None where libicu is not available or refuses the text."""
    icu = _icu()
    if icu is None:
        return None
    encoded = text.encode("utf-16-le")
    units = len(encoded) // 2
    buffer = ctypes.create_string_buffer(encoded + b"\0\0", len(encoded) + 2)
    status = ctypes.c_int(0)
    iterator = icu.open(UBRK_WORD, locale.encode(), buffer, units, ctypes.byref(status))
    if status.value > 0 or not iterator:
        return None
    try:
        # UTF-16 offsets back to str indices: an astral character takes two code units
        index_of: dict[int, int] = {}
        unit = 0
        for i, char in enumerate(text):
            index_of[unit] = i
            unit += 2 if ord(char) > 0xFFFF else 1
        index_of[unit] = len(text)
        starts: set[int] = set()
        boundary = icu.first(iterator)
        while boundary != UBRK_DONE:
            if boundary in index_of:
                starts.add(index_of[boundary])
            boundary = icu.next(iterator)
        return frozenset(starts)
    finally:
        icu.close(iterator)
