"""Khmer, Burmese (Myanmar) and Lao lines break between words, where ICU's dictionaries put them,
never between the characters of a word, and never inside a grapheme cluster."""

from __future__ import annotations

import itertools

import pytest
from structlog.testing import capture_logs

from engine.media import wordbreak
from engine.media.fonts import graphemes
from engine.media.text import break_units
from tests.test_text_breaks import laid_out, lines_of

KHMER_WORDS = ("ភាសា", "ខ្មែរ", "គឺ", "ជា", "ភាសា", "ផ្លូវការ", "របស់", "ប្រទេស", "កម្ពុជា")
"""Khmer is the official language of Cambodia, word by word."""
BURMESE_WORDS = ("မြန်မာ", "ဘာသာ", "စကား", "သည်", "မြန်မာ", "နိုင်ငံ", "၏", "ရုံးသုံး", "ဘာသာ", "စကား", "ဖြစ်", "သည်")
"""Burmese is the official language of Myanmar, word by word."""
KHMER = "".join(KHMER_WORDS)
BURMESE = "".join(BURMESE_WORDS)
NARROW = (360, 640)
"""9:16, narrow enough that each question takes two lines or more (Burmese twice over would not fit)."""

needs_icu = pytest.mark.skipif(wordbreak.icu_version() is None, reason="libicu is not installed")


def boundaries(text: str, locale: str) -> frozenset[int]:
    starts = wordbreak.word_starts(text, locale)
    assert starts is not None
    return starts


def grapheme_ends(text: str) -> set[int]:
    return set(itertools.accumulate(len(g) for g in graphemes(text)))


@needs_icu
@pytest.mark.parametrize(("words", "locale"), [(KHMER_WORDS, "km"), (BURMESE_WORDS, "my")], ids=["khmer", "burmese"])
def test_words_come_from_icus_dictionary(words: tuple[str, ...], locale: str) -> None:
    """ICU may keep a compound whole (ភាសាខ្មែរ, ဖြစ်သည်) but never ends a word inside one."""
    text = "".join(words)
    starts = boundaries(text, locale)
    assert 0 in starts and len(text) in starts
    assert len(starts) > 5  # words, not one run
    assert starts <= {0, *itertools.accumulate(len(w) for w in words)}
    assert starts <= grapheme_ends(text) | {0}


@needs_icu
def test_offsets_after_astral_characters_are_str_indices() -> None:
    text = "😀𝔸 " + KHMER  # two characters outside the BMP: four UTF-16 code units
    assert boundaries(text, "km") == {0, 1, 2, *(i + 3 for i in boundaries(KHMER, "km"))}
    assert "".join(break_units("😀 " + KHMER)) == "😀 " + KHMER


@needs_icu
@pytest.mark.parametrize(
    ("text", "locale", "name"), [(KHMER * 2, "km", "khmer"), (BURMESE, "my", "burmese")], ids=["khmer", "burmese"]
)
def test_a_long_question_breaks_its_lines_between_words(text: str, locale: str, name: str) -> None:
    _, layout = laid_out(text, "en", f"words-{name}", NARROW)
    lines = lines_of(layout)
    assert len(lines) >= 2 and "".join(lines) == text, lines
    breaks = list(itertools.accumulate(len(line) for line in lines))[:-1]
    assert set(breaks) <= boundaries(text, locale), lines
    assert set(breaks) <= grapheme_ends(text), lines


@needs_icu
def test_a_line_never_starts_with_a_khmer_or_burmese_full_stop() -> None:
    assert break_units("ភាសាខ្មែរ។ ប្រទេសកម្ពុជា។") == ("ភាសាខ្មែរ។ ", "ប្រទេស", "កម្ពុជា។")
    units = break_units("မြန်မာဘာသာစကား။ ဖြစ်သည်၊ စကား")
    assert len(units) > 3 and not any(unit[0] in "၊။" for unit in units), units
    assert "".join(units) == "မြန်မာဘာသာစကား။ ဖြစ်သည်၊ စကား"


@needs_icu
def test_lao_breaks_between_words_too() -> None:
    assert break_units("ພາສາລາວແມ່ນພາສາທາງການ") == ("ພາສາ", "ລາວ", "ແມ່ນ", "ພາສາ", "ທາງການ")


def test_without_libicu_lines_break_between_graphemes_and_it_is_logged_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wordbreak, "_candidates", lambda: ["/nonexistent/libicuuc.so.99"])
    wordbreak._icu.cache_clear()
    wordbreak.word_starts.cache_clear()
    break_units.cache_clear()
    try:
        with capture_logs() as logs:
            assert wordbreak.word_starts(KHMER, "km") is None
            assert wordbreak.word_starts(BURMESE, "my") is None
            assert break_units(KHMER) == (KHMER,)
        assert [entry["event"] for entry in logs] == ["libicu_missing"]
    finally:
        wordbreak._icu.cache_clear()
        wordbreak.word_starts.cache_clear()
        break_units.cache_clear()
