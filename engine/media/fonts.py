"""The font chain: which installed face draws each grapheme, the way a browser falls back.

One font never covers every script, so text is split into runs by the face that
covers each grapheme: a script's own Noto face first (every `NotoSans<Script>` this
machine has: Arabic, Tamil, Ethiopic, Khmer, ..., and CJK), colour emoji for emoji
sequences, then the primary face (RENDER_FONT) and the rest of the chain. Punctuation,
digits and spaces stay with the face of the text around them, so a sentence is not
broken into needless runs.

The chain is read from the font directory once per process, in a fixed order (the
faces the service always had, then the other script faces by name), so the same
fonts installed give the same chain on every worker: `FontChain.files` lists them for
the clip cache key.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import regex
from fontTools import unicodedata
from fontTools.ttLib import TTFont
from PIL import ImageFont

NOTO = Path("/usr/share/fonts/truetype/noto")
NOTO_CJK = Path("/usr/share/fonts/opentype/noto")

EMOJI_SIZE = 109
"""Noto Color Emoji is a bitmap font with one strike: it is drawn at this size and scaled."""

CJK_INDEX = {"ja": 0, "ko": 1, "zh": 2}
"""Faces of NotoSansCJK-*.ttc: the same Han characters drawn the Japanese, Korean or Simplified Chinese way."""

CJK_SCRIPTS = frozenset({"Han", "Hiragana", "Katakana", "Hangul", "Bopomofo"})
"""Scripts drawn by the CJK collection rather than a face of their own."""
LEADING_SCRIPTS = ("Arabic", "Hebrew", "Devanagari", "Thai")
"""Script faces the chain always had, kept ahead of the rest so text that drew before draws the same."""
SUPPLEMENTS = ("Symbols", "Symbols2", "Math", "TamilSupplement", "IndicSiyaqNumbers", "MayanNumerals", "Meroitic")
"""`NotoSans<name>` faces named for no one script: last resorts after the script faces."""
GENERIC_FACES = frozenset({"primary", "Latin", "emoji", "symbols"})
"""Faces named for their role, not a script: Latin text is drawn by the primary face first, not by Noto Sans."""
NEUTRAL_SCRIPTS = frozenset({"Zyyy", "Zinh", "Zzzz"})
"""Common, Inherited and Unknown: characters of no script of their own."""

IGNORABLE = frozenset("\u200c\u200d\ufe0e\ufe0f")
"""Joiners and variation selectors: shaping uses them, no face needs a glyph for them."""

_EMOJI = regex.compile(r"\p{Regional_Indicator}|\p{Emoji_Presentation}|\p{Emoji_Modifier}|\ufe0f|\u20e3")
_NEUTRAL = regex.compile(r"^[\p{Common}\p{Inherited}]+$")
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
    own_script: bool = False
    """Drawn only for its own script (and for punctuation and digits no earlier face has): a Khmer face is
    never asked for a character of another script, so an uncovered one costs no scan of a hundred faces."""

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
    hyphenation: str = ""
    """The pyphen dictionary long words of this text are hyphenated with ('de', 'ru'); '': none."""

    @classmethod
    def installed(cls, primary: Path, *, bold: bool = False, language: str = "zh", hyphenation: str = "") -> FontChain:
        """The primary face, then every Noto face this machine has; missing files are left out."""
        chain = _installed(primary, bold, language)
        return _hyphenating(chain, hyphenation) if hyphenation else chain

    @classmethod
    def build(cls, primary: Path, bold: bool, language: str) -> FontChain:
        weight = "Bold" if bold else "Regular"
        scripts = script_faces(bold)
        candidates = [
            Face(primary, 0, "primary"),
            Face(NOTO / f"NotoSans-{weight}.ttf", 0, "Latin"),
            *(scripts[s] for s in LEADING_SCRIPTS if s in scripts),
            Face(NOTO_CJK / f"NotoSansCJK-{weight}.ttc", CJK_INDEX[language], "CJK"),
            Face(NOTO / "NotoColorEmoji.ttf", 0, "emoji"),
            Face(primary.parent / "DejaVuSans.ttf", 0, "symbols"),
            *(face for name, face in sorted(scripts.items()) if name not in LEADING_SCRIPTS),
            *(face for name in SUPPLEMENTS if (face := _noto_face(name, bold)) is not None),
        ]
        seen: set[tuple[Path, int]] = set()
        faces = []
        for face in candidates:
            if face.path.is_file() and (face.path, face.index) not in seen:
                seen.add((face.path, face.index))
                faces.append(face)
        return cls(tuple(faces))

    def files(self) -> list[tuple[Path, int]]:
        """Every font file (and face index) the chain may draw with, in chain order: what the clip cache key hashes."""
        return [(face.path, face.index) for face in self.faces]

    def _named(self, name: str) -> Face | None:
        return next((f for f in self.faces if f.name == name), None)

    def face_for(self, grapheme: str) -> Face | None:
        return _face_for(self, grapheme)

    def _choose(self, grapheme: str) -> Face | None:
        """The first face that covers the grapheme, its script's own face and emoji first; None: no face does."""
        preferred: list[Face] = []
        script = grapheme_script(grapheme)
        if is_emoji(grapheme):
            preferred.append(self._named("emoji") or self.faces[0])
        elif (
            script and script not in GENERIC_FACES and (face := self._named("CJK" if script in CJK_SCRIPTS else script))
        ):
            preferred.append(face)
        common = not script and all(unicodedata.script(char) != "Zzzz" for char in grapheme)
        for face in (*preferred, *(f for f in self.faces if not f.emoji)):
            if face.own_script and not common and face.name != script:
                continue
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


@lru_cache(maxsize=256)
def _hyphenating(chain: FontChain, hyphenation: str) -> FontChain:
    """The same faces (the same objects, so caches keyed by a face are shared) with a hyphenation language."""
    return FontChain(chain.faces, hyphenation)


@lru_cache(maxsize=65536)
def _face_for(chain: FontChain, grapheme: str) -> Face | None:
    return chain._choose(grapheme)


@lru_cache(maxsize=4096)
def char_script(char: str) -> str:
    """The Unicode script of a character, as its Noto face is named ('Tamil', 'CanadianAboriginal');
    '' for Common, Inherited and Unknown."""
    code = unicodedata.script(char)
    return "" if code in NEUTRAL_SCRIPTS else unicodedata.script_name(code).replace("_", "")


def grapheme_script(grapheme: str) -> str:
    """The script of a grapheme's first character that has one: 'Tamil' for 'க்ஷ', '' for '?' or '1'."""
    return next((script for char in grapheme if (script := char_script(char))), "")


def _noto_face(name: str, bold: bool) -> Face | None:
    """`NotoSans<name>` in the weight asked for where it exists, else its regular one; None: not installed."""
    for weight in ("Bold", "Regular") if bold else ("Regular",):
        path = NOTO / f"NotoSans{name}-{weight}.ttf"
        if path.is_file():
            return Face(path, 0, name)
    return None


@cache
def script_faces(bold: bool) -> dict[str, Face]:
    """Every installed `NotoSans<Script>` face by its script's name: read from the font directory once per process."""
    names = {
        path.name.removeprefix("NotoSans").removesuffix("-Regular.ttf") for path in NOTO.glob("NotoSans*-Regular.ttf")
    }
    faces: dict[str, Face] = {}
    for name in sorted(names):
        if name.lower() in _SCRIPT_NAMES and (face := _noto_face(name, bold)) is not None:
            script = _SCRIPT_NAMES[name.lower()]
            faces[script] = Face(face.path, 0, script, own_script=script not in LEADING_SCRIPTS)
    return faces


_SCRIPT_NAMES = {
    unicodedata.script_name(code).replace("_", "").lower(): unicodedata.script_name(code).replace("_", "")
    for code in unicodedata.Scripts.NAMES
    if code not in NEUTRAL_SCRIPTS
}
"""Every Unicode script by its lower-cased face name: 'nko' (NotoSansNKo) is the script 'Nko'."""


NOTO_CORE = frozenset(
    """
    Adlam AnatolianHieroglyphs Arabic Armenian Avestan Balinese Bamum BassaVah Batak Bengali Bhaiksuki Brahmi
    Buginese Buhid CanadianAboriginal Carian CaucasianAlbanian Chakma Cham Cherokee Coptic Cuneiform Cypriot
    Deseret Devanagari Duployan EgyptianHieroglyphs Elbasan Elymaic Ethiopic Georgian Glagolitic Gothic Grantha
    Gujarati GunjalaGondi Gurmukhi HanifiRohingya Hanunoo Hatran Hebrew ImperialAramaic InscriptionalPahlavi
    InscriptionalParthian Javanese Kaithi Kannada KayahLi Kharoshthi Khmer Khojki Khudawadi Lao Lepcha Limbu
    LinearA LinearB Lisu Lycian Lydian Mahajani Malayalam Mandaic Manichaean Marchen MasaramGondi Medefaidrin
    MeeteiMayek MendeKikakui MeroiticCursive MeroiticHieroglyphs Miao Modi Mongolian Mro Multani Myanmar Nko
    Nabataean NewTaiLue Newa Nushu Ogham OlChiki OldHungarian OldItalic OldNorthArabian OldPermic OldPersian
    OldSogdian OldSouthArabian OldTurkic Oriya Osage Osmanya PahawhHmong Palmyrene PauCinHau PhagsPa Phoenician
    PsalterPahlavi Rejang Runic Samaritan Saurashtra Sharada Shavian Siddham SignWriting Sinhala Sogdian
    SoraSompeng Soyombo Sundanese SylotiNagri Syriac Tagalog Tagbanwa TaiLe TaiTham TaiViet Takri Tamil Telugu
    Thaana Thai Tifinagh Tirhuta Ugaritic Vai Wancho WarangCiti Yi ZanabazarSquare Latin Greek Cyrillic
    """.split()  # noqa: SIM905 (a list of 140 names, one a line, would hide the rest of the module)
)
"""Scripts Debian's fonts-noto-core draws (its `NotoSans<Script>` faces, and Noto Sans for Latin, Greek, Cyrillic)."""


def font_package(script: str) -> str | None:
    """The Debian package whose Noto face draws `script`; None: no package this service knows of."""
    if script in CJK_SCRIPTS:
        return "fonts-noto-cjk"
    return "fonts-noto-core" if script in NOTO_CORE else None


def refusal(missing: list[str]) -> str:
    """Why text with these uncovered graphemes is refused: each script and the package that draws it, once,
    rather than every grapheme; characters of no script (private use, unassigned) are listed, five at most."""
    scripts: dict[str, str | None] = {}
    loose: list[str] = []
    for grapheme in missing:
        if is_emoji(grapheme):
            scripts.setdefault("emoji", "fonts-noto-color-emoji")
        elif script := grapheme_script(grapheme):
            scripts.setdefault(script, font_package(script))
        else:
            loose.append(grapheme)
    parts: list[str] = []
    if scripts:
        packages = sorted({package for package in scripts.values() if package})
        names = ", ".join(scripts)
        install = f"install {' and '.join(packages)}" if packages else "no package of Noto fonts draws it"
        parts.append(f"has {names} text no installed font covers ({install})")
    if loose:
        more = f" and {len(loose) - 5} more" if len(loose) > 5 else ""
        parts.append(f"has characters no installed font covers: {describe(loose[:5])}{more}")
    return "; ".join(parts)


def describe(graphemes: list[str]) -> str:
    """Graphemes as an error message shows them: the text and its code points."""
    return ", ".join(f"{g!r} ({' '.join(f'U+{ord(c):04X}' for c in g)})" for g in graphemes)
