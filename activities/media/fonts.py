"""The font chain: which installed face draws each grapheme, the way a browser falls back.

One font never covers every script, so text is split into runs by the face that
covers each grapheme: a script's own Noto face first (Arabic, Hebrew, Devanagari,
Thai, CJK), colour emoji for emoji sequences, then the primary face (RENDER_FONT)
and the rest of the chain. Punctuation, digits and spaces stay with the face of the
text around them, so a sentence is not broken into needless runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import regex
from fontTools.ttLib import TTFont
from PIL import ImageFont

NOTO = Path("/usr/share/fonts/truetype/noto")
NOTO_CJK = Path("/usr/share/fonts/opentype/noto")

EMOJI_SIZE = 109
"""Noto Color Emoji is a bitmap font with one strike: it is drawn at this size and scaled."""

CJK_INDEX = {"ja": 0, "ko": 1, "zh": 2}
"""Faces of NotoSansCJK-*.ttc: the same Han characters drawn the Japanese, Korean or Simplified Chinese way."""

SCRIPT_FACES = {
    "Arabic": "Arabic",
    "Hebrew": "Hebrew",
    "Devanagari": "Devanagari",
    "Thai": "Thai",
    "Han": "CJK",
    "Hiragana": "CJK",
    "Katakana": "CJK",
    "Hangul": "CJK",
    "Bopomofo": "CJK",
}
"""Scripts whose own face is preferred to the primary one, named by the face's file name part."""

IGNORABLE = frozenset("\u200c\u200d\ufe0e\ufe0f")
"""Joiners and variation selectors: shaping uses them, no face needs a glyph for them."""

_EMOJI = regex.compile(r"\p{Regional_Indicator}|\p{Emoji_Presentation}|\p{Emoji_Modifier}|\ufe0f|\u20e3")
_NEUTRAL = regex.compile(r"^[\p{Common}\p{Inherited}]+$")
_SCRIPT = regex.compile(r"\p{Script=(" + "|".join(SCRIPT_FACES) + r")}")
_KANA = regex.compile(r"[\p{Hiragana}\p{Katakana}]")
_HANGUL = regex.compile(r"\p{Hangul}")
_GRAPHEME = regex.compile(r"\X")


@dataclass(frozen=True, eq=False)
class Face:
    """One font file (and face index in a collection) of the chain."""

    path: Path
    index: int = 0
    name: str = ""
    """What it is for: 'primary', 'Arabic', 'CJK', 'emoji', ..."""

    @property
    def emoji(self) -> bool:
        return self.name == "emoji"

    def font(self, size: int) -> ImageFont.FreeTypeFont:
        """The face at `size` pixels (colour emoji: at its one bitmap size; the caller scales)."""
        return _font(str(self.path), self.index, EMOJI_SIZE if self.emoji else size)

    def scale(self, size: int) -> float:
        """How much a glyph drawn by `font(size)` is scaled to `size` pixels."""
        return size / EMOJI_SIZE if self.emoji else 1.0

    def covers(self, grapheme: str) -> bool:
        cmap = _cmap(str(self.path), self.index)
        return all(ord(ch) in cmap for ch in grapheme if ch not in IGNORABLE)


@lru_cache(maxsize=256)
def _font(path: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, index=index, layout_engine=ImageFont.Layout.RAQM)


@cache
def _cmap(path: str, index: int) -> frozenset[int]:
    with TTFont(path, fontNumber=index, lazy=True) as font:
        return frozenset(font.getBestCmap() or {})


def graphemes(text: str) -> list[str]:
    """Extended grapheme clusters (UAX #29): a flag, a ZWJ family or a skin-toned hand is one."""
    return list(_GRAPHEME.findall(text))


def is_emoji(grapheme: str) -> bool:
    """Whether the grapheme is drawn as a colour emoji (presentation, modifiers, VS16, flags, keycaps)."""
    return bool(_EMOJI.search(grapheme)) and "\ufe0e" not in grapheme


def is_neutral(grapheme: str) -> bool:
    """Spaces, punctuation and digits: they take the face of the text around them."""
    return bool(_NEUTRAL.match(grapheme)) and not is_emoji(grapheme)


def cjk_language(text: str) -> str:
    """Which way to draw Han characters: Japanese with kana about, Korean with Hangul, else Chinese."""
    if _KANA.search(text):
        return "ja"
    return "ko" if _HANGUL.search(text) else "zh"


@dataclass(frozen=True, eq=False)
class FontChain:
    """Faces in fallback order, with the faces preferred for particular scripts.

    Compared by identity: `installed` returns one chain per configuration, so caches keyed by it stay cheap.
    """

    faces: tuple[Face, ...]

    @classmethod
    def installed(cls, primary: Path, *, bold: bool = False, language: str = "zh") -> FontChain:
        """The primary face, then every Noto face this machine has; missing files are left out."""
        return _installed(primary, bold, language)

    @classmethod
    def build(cls, primary: Path, bold: bool, language: str) -> FontChain:
        weight = "Bold" if bold else "Regular"
        candidates = [
            Face(primary, 0, "primary"),
            Face(NOTO / f"NotoSans-{weight}.ttf", 0, "Latin"),
            *(Face(NOTO / f"NotoSans{s}-{weight}.ttf", 0, s) for s in ("Arabic", "Hebrew", "Devanagari", "Thai")),
            Face(NOTO_CJK / f"NotoSansCJK-{weight}.ttc", CJK_INDEX[language], "CJK"),
            Face(NOTO / "NotoColorEmoji.ttf", 0, "emoji"),
            Face(primary.parent / "DejaVuSans.ttf", 0, "symbols"),
        ]
        seen: set[tuple[Path, int]] = set()
        faces = []
        for face in candidates:
            if face.path.is_file() and (face.path, face.index) not in seen:
                seen.add((face.path, face.index))
                faces.append(face)
        return cls(tuple(faces))

    def _named(self, name: str) -> Face | None:
        return next((f for f in self.faces if f.name == name), None)

    def face_for(self, grapheme: str) -> Face | None:
        return _face_for(self, grapheme)

    def _choose(self, grapheme: str) -> Face | None:
        """The first face that covers the grapheme, its script's own face and emoji first; None: no face does."""
        preferred: list[Face] = []
        if is_emoji(grapheme):
            preferred.append(self._named("emoji") or self.faces[0])
        elif (char := _SCRIPT.search(grapheme)) and (face := self._named(SCRIPT_FACES[_script_name(char.group())])):
            preferred.append(face)
        for face in (*preferred, *(f for f in self.faces if not f.emoji)):
            if face.covers(grapheme):
                return face
        return None

    def runs(self, clusters: list[str]) -> list[Face | None]:
        """The face of every grapheme; neutral ones keep the face of their neighbours when it covers them."""
        faces = [None if is_neutral(g) else self.face_for(g) for g in clusters]
        last: Face | None = None
        for i, grapheme in enumerate(clusters):
            if not is_neutral(grapheme):
                face = faces[i]
                last = face if face is not None and not face.emoji else last
                continue
            following = next((faces[j] for j in range(i + 1, len(clusters)) if not is_neutral(clusters[j])), None)
            around = next((f for f in (last, following) if f is not None and not f.emoji), None)
            faces[i] = around if around is not None and around.covers(grapheme) else self.face_for(grapheme)
        return faces

    def missing(self, text: str) -> list[str]:
        """Graphemes no face of the chain covers, each once, in order of appearance."""
        found: list[str] = []
        for grapheme in graphemes(text):
            if grapheme.isspace() or grapheme in found:
                continue
            if self.face_for(grapheme) is None:
                found.append(grapheme)
        return found


@lru_cache(maxsize=64)
def _installed(primary: Path, bold: bool, language: str) -> FontChain:
    return FontChain.build(primary, bold, language)


@lru_cache(maxsize=65536)
def _face_for(chain: FontChain, grapheme: str) -> Face | None:
    return chain._choose(grapheme)


@lru_cache(maxsize=4096)
def _script_name(char: str) -> str:
    """The script of a character, among those that have a preferred face."""
    for name in SCRIPT_FACES:
        if regex.match(rf"\p{{Script={name}}}", char):
            return name
    return ""


def describe(graphemes: list[str]) -> str:
    """Graphemes as an error message shows them: the text and its code points."""
    return ", ".join(f"{g!r} ({' '.join(f'U+{ord(c):04X}' for c in g)})" for g in graphemes)
