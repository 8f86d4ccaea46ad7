"""Text layout: shaped, fallen back per run, wrapped at legal breaks, and shrunk until it fits.

Lines break where UAX #14 allows (at spaces, between CJK characters, never before
closing punctuation), Thai at word boundaries from a dictionary (pythainlp), Khmer, Myanmar and
Lao at ICU's dictionary word boundaries (engine.media.wordbreak), and only at grapheme boundaries:
a flag or an emoji sequence is never split. Each line is split into runs by face and direction and put
in visual order; each run is shaped by HarfBuzz (Pillow with libraqm) when drawn.
Nothing is ever cut: text that does not fit at the minimum size is refused.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

import regex

from engine.media.fonts import Face, FontChain, graphemes
from engine.media.wordbreak import word_starts

LINE_SPACING = 1.3
"""Line pitch in font sizes: room for Thai and Devanagari marks above and below."""
MIN_SIZE_FRACTION = 1 / 36
"""The smallest text drawn, as a fraction of the frame height (30 px at 1080p, 20 px at 720p)."""
WIDTH_FRACTION = 0.9

T = TypeVar("T")
Faced = tuple[tuple[str, Face], ...]
"""Graphemes, each with the face that draws it."""

_THAI_RUN = regex.compile(r"\p{Script=Thai}+")
_ICU_RUNS = (
    (regex.compile(r"\p{Script=Khmer}+"), "km"),
    (regex.compile(r"\p{Script=Myanmar}+"), "my"),
    (regex.compile(r"\p{Script=Lao}+"), "lo"),
)
"""Scripts written without spaces between words, segmented by ICU's dictionaries (Thai stays on pythainlp)."""
_URL = regex.compile(
    r"^(?:[a-z][a-z0-9+.-]*://|www\.)|^[\w-]+(?:\.[\w-]+)+/|@[\w-]+\.\w|^(?:[\w-]+\.)+[a-z]{2,}\W*$", regex.I
)
"""A URL, a domain or an e-mail address: broken at its punctuation, never hyphenated."""
_RTL_CLASSES = frozenset({"R", "AL"})
_NUMBER_CLASSES = frozenset({"EN", "AN"})


@lru_cache(maxsize=8192)
def run_width(face: Face, text: str, size: int, rtl: bool) -> float:
    """Shaped advance width of `text` drawn with `face` at `size` pixels."""
    font = face.font(size)
    return font.getlength(text, direction="rtl" if rtl else "ltr") * face.scale(size)


def direction(text: str) -> bool:
    """Paragraph direction from its first strong character (UAX #9 P2): True for right-to-left."""
    for char in text:
        kind = unicodedata.bidirectional(char)
        if kind == "L":
            return False
        if kind in _RTL_CLASSES:
            return True
    return False


@dataclass(frozen=True)
class Run:
    """Part of a line drawn with one face in one direction."""

    text: str
    face: Face
    rtl: bool
    width: float


@dataclass(frozen=True)
class Line:
    runs: tuple[Run, ...]
    """Visual order, left to right."""
    logical: str = ""
    """The line's text in logical (reading) order."""
    rtl: bool = False
    """Its paragraph's direction."""

    @property
    def width(self) -> float:
        return sum(r.width for r in self.runs)

    @property
    def text(self) -> str:
        return "".join(r.text for r in self.runs)


@dataclass(frozen=True)
class Block:
    """Wrapped lines of one text at one size, top at `top`."""

    lines: tuple[Line, ...]
    size: int
    top: int
    bold: bool
    colour: str
    pitch: float = LINE_SPACING
    """Line pitch in font sizes: more than LINE_SPACING for a face whose marks reach further (Myanmar)."""

    @property
    def spacing(self) -> int:
        return round(self.size * self.pitch)

    @property
    def bottom(self) -> int:
        return self.top + len(self.lines) * self.spacing

    @property
    def widest(self) -> float:
        """Its widest line: wider than the region only when one grapheme is (an unligated ZWJ sequence)."""
        return max((line.width for line in self.lines), default=0.0)


_IDEOGRAPHIC = regex.compile(
    r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Bopomofo}\u3000-\u303f\uff00-\uffef\p{Extended_Pictographic}\p{Regional_Indicator}]"
)
NO_LINE_START = frozenset(
    "、。，．・：；？！ー」』）］｝〕〉》】〙〗〟’”｠»ヽヾゝゞ々〻ぁぃぅぇぉっゃゅょゎゕゖァィゥェォッャュョヮヵヶ‐゠–〜?!.,:;)]}%។៕၊။"
)
"""Closing punctuation, small kana and Khmer and Myanmar stops: a line never starts with them
(UAX #14 CL, EX, CJ, IS, BA; kinsoku)."""
NO_LINE_END = frozenset("「『（［｛〔〈《【〘〖〝‘“｟«([{")
"""Opening punctuation: a line never ends with it (UAX #14 OP)."""


def _may_break(before: str, after: str, word_starts: bool) -> bool:
    """Whether a line may end between two graphemes (the UAX #14 rules that matter for these scripts)."""
    if after.isspace() or after[0] in NO_LINE_START or before[-1] in NO_LINE_END:
        return False
    if before[-1].isspace() or word_starts:
        return True
    if bool(_IDEOGRAPHIC.match(before)) or bool(_IDEOGRAPHIC.match(after)):
        return True  # ideographs, kana and emoji break on either side (UAX #14 ID)
    return before[-1] in "-\u2010" and after[0].isalpha()  # after a hyphen (UAX #14 BA, HY)


@lru_cache(maxsize=4096)
def break_units(text: str) -> tuple[str, ...]:
    """Pieces a line may end after: at spaces, around ideographs and emoji, between Thai, Khmer,
    Myanmar and Lao words; only ever between graphemes, so a flag or an emoji sequence stays whole.

    These are the UAX #14 rules that matter here, with kinsoku for CJK punctuation; Thai, Khmer,
    Myanmar and Lao are segmented with dictionaries, since they separate words with no space at all.
    """
    clusters = graphemes(text)
    dictionary_starts: set[int] = set()
    for match in _THAI_RUN.finditer(text):
        offset = match.start()
        for word in _thai_words(match.group()):
            dictionary_starts.add(offset)
            offset += len(word)
    for pattern, locale in _ICU_RUNS:
        for match in pattern.finditer(text):
            starts = word_starts(match.group(), locale)  # None without libicu: graphemes only, as before
            dictionary_starts |= {match.start() + i for i in starts or ()}
    inside_urls = {
        i
        for token in regex.finditer(r"\S+", text)
        if _URL.search(token.group())
        for i in range(token.start() + 1, token.end())
    }
    units: list[str] = []
    current, offset = "", 0
    for grapheme in clusters:
        if current and offset not in inside_urls and _may_break(current, grapheme, offset in dictionary_starts):
            units.append(current)
            current = ""
        current += grapheme
        offset += len(grapheme)
    if current:
        units.append(current)
    return tuple(units)


def _thai_words(text: str) -> list[str]:
    from pythainlp.tokenize import word_tokenize  # a large dictionary: loaded only for Thai text

    words: list[str] = []
    for word in word_tokenize(text, engine="newmm", keep_whitespace=False):
        words.append(word)
    return words if "".join(words) == text else [text]


class Shaper:
    """Measures and splits text into runs with one font chain at one size."""

    def __init__(self, chain: FontChain, size: int) -> None:
        self.chain = chain
        self.size = size

    def faces(self, text: str) -> Faced:
        """Each grapheme with the face that draws it, chosen in the context of all of `text`
        (a digit or a colon takes the face of the text around it); uncovered graphemes go to the first face."""
        return _faced(self.chain, text)

    def width(self, faced: Faced, rtl: bool) -> float:
        """Width of graphemes drawn with the faces given: each run of one face shaped whole."""
        return _faced_width(faced, self.size, rtl)

    def line(self, faced: Faced, paragraph_rtl: bool) -> Line:
        """One line's runs in visual order (UAX #9 reordering, at run granularity), drawn with the faces given."""
        runs: list[tuple[int, Run]] = []
        for piece, face in _pieces(faced):
            for part, rtl in _directional(piece, paragraph_rtl):
                level = (1 if rtl else 2) if paragraph_rtl else (1 if rtl else 0)
                runs.append((level, Run(part, face, rtl, run_width(face, part, self.size, rtl))))
        return Line(tuple(run for _, run in _reorder(runs)), "".join(g for g, _ in faced), paragraph_rtl)


@lru_cache(maxsize=4096)
def _faced(chain: FontChain, text: str) -> Faced:
    clusters = graphemes(text)
    return tuple((g, face or chain.faces[0]) for g, face in zip(clusters, chain.runs(clusters), strict=True))


@lru_cache(maxsize=16384)
def _faced_width(faced: Faced, size: int, rtl: bool) -> float:
    return sum(run_width(face, piece, size, rtl) for piece, face in _pieces(faced))


def _pieces(faced: Faced) -> list[tuple[str, Face]]:
    """Consecutive graphemes of one face joined into one run."""
    out: list[tuple[str, Face]] = []
    for grapheme, face in faced:
        if out and out[-1][1] == face:
            out[-1] = (out[-1][0] + grapheme, face)
        else:
            out.append((grapheme, face))
    return out


def _rstripped(faced: Faced) -> Faced:
    """Without its trailing whitespace."""
    end = len(faced)
    while end and faced[end - 1][0].isspace():
        end -= 1
    return faced[:end]


def _directional(text: str, paragraph_rtl: bool) -> list[tuple[str, bool]]:
    """Split text into right-to-left and left-to-right parts; neutrals join their neighbours (UAX #9 N1, N2)."""
    clusters = graphemes(text)
    strong: list[bool | None] = []
    for grapheme in clusters:
        kind = unicodedata.bidirectional(grapheme[0])
        strong.append(True if kind in _RTL_CLASSES else False if kind == "L" or kind in _NUMBER_CLASSES else None)
    resolved: list[bool] = []
    for i, value in enumerate(strong):
        if value is not None:
            resolved.append(value)
            continue
        before = next((s for s in reversed(strong[:i]) if s is not None), paragraph_rtl)
        after = next((s for s in strong[i + 1 :] if s is not None), paragraph_rtl)
        resolved.append(before if before == after else paragraph_rtl)
    parts: list[tuple[str, bool]] = []
    for grapheme, rtl in zip(clusters, resolved, strict=True):
        if parts and parts[-1][1] == rtl:
            parts[-1] = (parts[-1][0] + grapheme, rtl)
        else:
            parts.append((grapheme, rtl))
    return parts


def _reorder(runs: list[tuple[int, Run]]) -> list[tuple[int, Run]]:
    """UAX #9 L2: from the highest level down to the lowest odd one, reverse every sequence at that level or above."""
    if not runs:
        return runs
    levels = [level for level, _ in runs]
    lowest_odd = min((lv for lv in levels if lv % 2), default=max(levels) + 1)
    for level in range(max(levels), lowest_odd - 1, -1):
        i = 0
        while i < len(runs):
            if runs[i][0] < level:
                i += 1
                continue
            j = i
            while j < len(runs) and runs[j][0] >= level:
                j += 1
            runs[i:j] = runs[i:j][::-1]
            i = j
    return runs


LAYOUT_VERSION = "4"
"""How lines break: part of the clip cache key, so a cached clip laid out by older rules is not reused."""

URL_BREAK_AFTER = frozenset("/?&=#")
URL_BREAK_BEFORE = frozenset(".@-_~")
"""URLs break after a slash or a separator and before a dot or a hyphen, so a line never ends with a dot that
reads as a full stop, nor a hyphen that reads as hyphenation."""
HYPHEN = "-"
MIN_HYPHEN_PART = 2
"""Letters kept either side of a hyphen: never one letter alone on a line."""


def hyphenation_language(voice: str) -> str:
    """The pyphen dictionary for text narrated by `voice` ('de-DE-Neural2-B' -> 'de_DE', 'ru' -> 'ru'); '' if none."""
    import pyphen

    parts = voice.replace("_", "-").split("-")
    for tag in (f"{parts[0].lower()}_{parts[1].upper()}" if len(parts) > 1 else "", parts[0].lower()):
        if tag and (found := pyphen.language_fallback(tag)):
            return str(found)
    return ""


def text_hyphenation(language: str, voice: str, job_voice: str) -> str:
    """The dictionary for one clip's text: its own language, else its own voice's, else the job's voice's."""
    return hyphenation_language(language or voice or job_voice)


@lru_cache(maxsize=4096)
def _hyphen_points(word: str, language: str) -> tuple[int, ...]:
    """Character offsets inside `word` where the language's patterns allow a hyphen."""
    import pyphen

    return tuple(pyphen.Pyphen(lang=language, left=MIN_HYPHEN_PART, right=MIN_HYPHEN_PART).positions(word))


def _inner_breaks(unit: str, language: str) -> list[tuple[int, bool]]:
    """(character offset, with a hyphen) where an over-long unit may break: at a URL's punctuation, else at
    the hyphenation points of its word in `language`; empty when neither applies (it breaks between graphemes)."""
    word = unit.rstrip()
    if _URL.search(word):
        return [
            (i, False) for i in range(1, len(word)) if word[i - 1] in URL_BREAK_AFTER or word[i] in URL_BREAK_BEFORE
        ]
    if not language:
        return []
    match = regex.search(r"\p{L}[\p{L}\p{M}]*", word)
    if match is None or len(match.group()) < 2 * MIN_HYPHEN_PART:
        return []
    return [(match.start() + i, True) for i in _hyphen_points(match.group(), language)]


def wrap(text: str, shaper: Shaper, max_width: float, draw: Shaper | None = None) -> list[Line]:
    """Greedy wrap at break opportunities, then no orphan word on the last line where a better break exists.

    A unit wider than a whole line breaks inside: a URL at its punctuation, a word at its
    hyphenation points with a hyphen (in the chain's hyphenation language), else between
    graphemes. Faces are chosen for the whole paragraph before it is broken, so a unit is
    measured with the faces its line is drawn with (a unit of digits alone would take the
    primary face, in its line the face of the text around it). Widths are summed unit by
    unit (a line's trailing spaces do not count). With `draw`, lines break where they do
    with `shaper` and are drawn with `draw`'s faces.
    """
    lines: list[Line] = []
    for paragraph in text.split("\n"):
        rtl = direction(paragraph)
        faced = shaper.faces(paragraph)
        bounds: list[tuple[int, int]] = []  # each break unit as faced[first:at]
        at = 0
        for unit in break_units(paragraph):
            first, taken = at, 0
            while taken < len(unit):
                taken, at = taken + len(faced[at][0]), at + 1
            bounds.append((first, at))
        ranges = _balanced(_greedy(faced, bounds, shaper, max_width, rtl), bounds, faced, shaper, max_width, rtl)
        shown = faced if draw is None else draw.faces(paragraph)
        painter = draw or shaper
        for start, end, hyphen in ranges:
            piece = _rstripped(shown[start:end])
            if hyphen:
                piece = (*piece, (HYPHEN, _hyphen_face(painter.chain, piece)))
            lines.append(painter.line(piece, rtl))
    return lines


Range = tuple[int, int, bool]
"""A line as faced[start:end], and whether it ends with an added hyphen."""


def _hyphen_face(chain: FontChain, faced: Faced) -> Face:
    """The face of the word the hyphen ends, when it has one, else the chain's face for it."""
    face = faced[-1][1] if faced else chain.faces[0]
    return face if face.covers(HYPHEN) else chain.face_for(HYPHEN) or chain.faces[0]


def _greedy(faced: Faced, bounds: list[tuple[int, int]], shaper: Shaper, max_width: float, rtl: bool) -> list[Range]:
    ranges: list[Range] = []
    start, used = 0, 0.0  # the current line is faced[start:first]
    for first, at in bounds:
        if used + shaper.width(_rstripped(faced[first:at]), rtl) <= max_width:
            used += shaper.width(faced[first:at], rtl)
            continue
        if first > start and shaper.width(_rstripped(faced[first:at]), rtl) <= max_width:
            ranges.append((start, first, False))
            start, used = first, shaper.width(faced[first:at], rtl)
            continue
        start = _split_unit(faced, start, first, at, shaper, max_width, rtl, ranges)
        used = shaper.width(faced[start:at], rtl)
    ranges.append((start, len(faced), False))
    return ranges


def _split_unit(
    faced: Faced, start: int, first: int, at: int, shaper: Shaper, max_width: float, rtl: bool, ranges: list[Range]
) -> int:
    """Break the unit faced[first:at], wider than a line, its first part ending the line begun at `start`;
    lines are appended to `ranges`, and where its last part starts is returned."""
    unit = "".join(g for g, _ in faced[first:at])
    offsets, offset = {}, 0  # character offset in the unit -> grapheme index
    for i in range(first, at):
        offsets[offset] = i
        offset += len(faced[i][0])
    breaks = [(offsets[o], hyphen) for o, hyphen in _inner_breaks(unit, shaper.chain.hyphenation) if o in offsets]
    hyphen_width = shaper.width(((HYPHEN, _hyphen_face(shaper.chain, faced[first:at])),), rtl)
    while shaper.width(_rstripped(faced[start:at]), rtl) > max_width:
        end, hyphen = start, False
        for index, with_hyphen in breaks:
            extra = hyphen_width if with_hyphen else 0.0
            if index > start and shaper.width(faced[start:index], rtl) + extra <= max_width:
                end, hyphen = index, with_hyphen
        if end == start and start < first:  # no part of it fits after the words before it: a line of its own
            end = first
        elif end == start:  # no break point fits: between graphemes, as many as fit (at least one)
            end = start + 1
            while end < at and shaper.width(_rstripped(faced[start : end + 1]), rtl) <= max_width:
                end += 1
        ranges.append((start, end, hyphen))
        start = end
    return start


def _balanced(
    ranges: list[Range], bounds: list[tuple[int, int]], faced: Faced, shaper: Shaper, max_width: float, rtl: bool
) -> list[Range]:
    """No orphan: a last line of one word takes the word before it down when that still fits and leaves
    the line above with a word or more (the typesetter's rule; not for scripts broken without spaces)."""
    if len(ranges) < 2:
        return ranges
    (prev_start, prev_end, prev_hyphen), (last_start, last_end, _) = ranges[-2], ranges[-1]
    starts = [first for first, _ in bounds]
    if prev_hyphen or last_start not in starts or starts.index(last_start) != len(starts) - 1:
        return ranges  # the last line is more than one unit, or the end of a broken word
    if not any(g.isspace() for g, _ in faced[prev_start:prev_end]):
        return ranges  # no space before it: ideographs, Thai, a word broken inside
    moved = starts.index(last_start) - 1
    new_start = starts[moved]
    if new_start <= prev_start or not any(g.isspace() for g, _ in faced[prev_start:new_start]):
        return ranges
    if shaper.width(_rstripped(faced[new_start:last_end]), rtl) > max_width:
        return ranges
    return [*ranges[:-2], (prev_start, new_start, False), (new_start, last_end, False)]


def block(
    text: str,
    chain: FontChain,
    *,
    size: int,
    top: int,
    width: int,
    colour: str = "white",
    bold: bool = False,
    measure: FontChain | None = None,
) -> Block:
    """`text` wrapped to `width` at `size` pixels, placed at `top`; never shortened.

    With `measure`, lines break where they would with that chain (a wider, bold one), so
    text drawn in either weight breaks at the same places.
    """
    shaper = Shaper(chain, size)
    measured = shaper if measure is None or measure is chain else Shaper(measure, size)
    lines = wrap(text, measured, width * WIDTH_FRACTION, shaper)
    return Block(tuple(lines), size, top, bold, colour, line_pitch(lines, size))


def line_pitch(lines: list[Line], size: int) -> float:
    """LINE_SPACING, or the ascent and descent of the tallest script face drawn (those added for their own
    script: Myanmar's stacked medials and Khmer's subscripts reach into the next line at 1.3)."""
    pitch = LINE_SPACING
    for face in {run.face for line in lines for run in line.runs if run.face.own_script}:
        ascent, descent = face.font(size).getmetrics()
        pitch = max(pitch, (ascent + descent) / size)
    return pitch


def min_size(height: int) -> int:
    """The smallest readable text for a frame `height` pixels tall: 1/36 of it, never below 8 px."""
    return max(8, round(height * MIN_SIZE_FRACTION))


def scales(base: int, height: int) -> list[float]:
    """Shrink factors tried in turn, from full size down to where `base` reaches the minimum size."""
    floor = min(1.0, min_size(height) / base)
    steps = [1.0]
    while steps[-1] * 0.92 > floor:
        steps.append(steps[-1] * 0.92)
    if steps[-1] > floor:
        steps.append(floor)
    return steps


def largest_fit(steps: list[float], attempt: Callable[[float], tuple[bool, T]]) -> tuple[bool, T]:
    """(True, layout) at the largest step whose layout fits, else (False, the smallest step's layout).

    Smaller text never needs more room, so after the first and last steps the rest are bisected:
    text that fits at full size is laid out once, any other in about five tries rather than fifteen.
    """
    fits, first = attempt(steps[0])
    if fits or len(steps) == 1:
        return fits, first
    fits, best = attempt(steps[-1])
    if not fits:
        return False, best
    low, high = 0, len(steps) - 1  # steps[low] does not fit, steps[high] does
    while high - low > 1:
        middle = (low + high) // 2
        fits, layout = attempt(steps[middle])
        if fits:
            high, best = middle, layout
        else:
            low = middle
    return True, best
