"""Languages a question or clip may be narrated in, and what a reveal says in each.

A language is a BCP-47-ish tag (`es`, `es-MX`, `pt-BR`, `zh-Hant`): its first part must be one of
ANSWER_PHRASES's languages, the ones the installed fonts draw and espeak-ng speaks. A tag's phrase is
its own when a theme words it (`answer_phrases`), else its first part's. Stdlib only: plans are also
made inside the workflow's sandbox.
"""

from __future__ import annotations

import re

LANGUAGE_PATTERN = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}$")
"""`es`, `es-MX`, `zh-Hant-TW`: a language, then up to three script, region or variant parts."""

ANSWER_PHRASES: dict[str, str] = {
    "ar": "الإجابة هي {answer}.",
    "cs": "Odpověď je {answer}.",
    "da": "Svaret er {answer}.",
    "de": "Die Antwort ist {answer}.",
    "el": "Η απάντηση είναι {answer}.",
    "en": "The answer is {answer}.",
    "es": "La respuesta es {answer}.",
    "fi": "Vastaus on {answer}.",
    "fr": "La réponse est {answer}.",
    "he": "התשובה היא {answer}.",
    "hi": "उत्तर है {answer}।",
    "id": "Jawabannya adalah {answer}.",
    "it": "La risposta è {answer}.",
    "ja": "答えは{answer}です。",
    "ko": "정답은 {answer}입니다.",
    "nl": "Het antwoord is {answer}.",
    "no": "Svaret er {answer}.",
    "pl": "Odpowiedź to {answer}.",
    "pt": "A resposta é {answer}.",
    "ro": "Răspunsul este {answer}.",
    "ru": "Правильный ответ: {answer}.",
    "sv": "Svaret är {answer}.",
    "th": "คำตอบคือ {answer}",
    "tr": "Doğru cevap: {answer}.",
    "uk": "Правильна відповідь: {answer}.",
    "vi": "Đáp án là {answer}.",
    "zh": "答案是{answer}。",
}
"""A reveal's words by language, each holding {answer} once; English is also `Theme.answer_phrase`'s default."""

LANGUAGE_ALIASES = {"cmn": "zh", "yue": "zh", "jpn": "ja", "kor": "ko", "nb": "no", "nn": "no", "iw": "he"}
"""Other first parts that name a language of the table (voice names use some: `cmn-CN-Wavenet-A`)."""

DEFAULT_LANGUAGE = "en"


def primary(tag: str) -> str:
    """A tag's language part, lower case, aliases resolved: 'pt-BR' → 'pt', 'cmn-CN' → 'zh'."""
    first = tag.replace("_", "-").split("-", 1)[0].lower()
    return LANGUAGE_ALIASES.get(first, first)


def language_problem(tag: str) -> str | None:
    """Why `tag` is not a language a clip may be narrated in; None when it is."""
    if not LANGUAGE_PATTERN.match(tag):
        return f"expected a language tag like 'es' or 'pt-BR', got {tag[:40]!r}"
    if primary(tag) not in ANSWER_PHRASES:
        return f"unknown language {tag[:40]!r} (known: {', '.join(sorted(ANSWER_PHRASES))})"
    return None


def voice_language(voice: str) -> str | None:
    """The language a voice name speaks ('es-ES-Neural2-A' → 'es'); None for a name that does not say
    (a Polly voice id like 'Joanna') or a language outside the table."""
    if voice[:1].isupper():
        return None
    language = primary(voice)
    return language if language in ANSWER_PHRASES else None


def voice_problem(voice: str, language: str) -> str | None:
    """Why `voice` cannot read text in `language`; None when it can (or its name does not say)."""
    spoken = voice_language(voice)
    if spoken is None and not voice[:1].isupper():
        first, known = voice.split("-", 1)[0], ", ".join(sorted(ANSWER_PHRASES))
        return f"unknown voice {voice[:64]!r}: its language {first!r} is not one of {known}"
    if spoken is not None and language and spoken != primary(language):
        wanted = primary(language)
        return f"{voice[:64]!r} speaks {spoken}, but the text's language is {language}; name a voice for {wanted}"
    return None


def answer_phrase(language: str, overrides: dict[str, str] | None = None, english: str | None = None) -> str:
    """What a reveal says in `language`: the theme's phrase for the tag, then for its language, else the
    built-in one; English (and an unknown language) says `english` (the theme's `answer_phrase`) when given."""
    given = {_folded(tag): phrase for tag, phrase in (overrides or {}).items()}
    for tag in (_folded(language), primary(language)):
        if tag in given:
            return given[tag]
    first = primary(language) if language else DEFAULT_LANGUAGE
    if first == DEFAULT_LANGUAGE or first not in ANSWER_PHRASES:
        return english if english is not None else ANSWER_PHRASES[DEFAULT_LANGUAGE]
    return ANSWER_PHRASES[first]


def _folded(tag: str) -> str:
    """A tag as it compares: tags are case-insensitive ('pt-BR' is 'pt-br', 'ES' is 'es'), '_' read as '-'."""
    return tag.replace("_", "-").lower()


def text_language(language: str, voice: str) -> str:
    """The language a clip's text is in: its own (or the job's), else its voice's; '' when neither says."""
    return language or voice_language(voice) or ""


def clip_voice(voice: str | None, language: str | None, job_voice: str) -> str:
    """The voice a clip is read in, '' for the job's: its own, else one for its language when the job's
    voice speaks another (the language tag itself: every engine picks its voice for a tag)."""
    if voice:
        return voice if voice != job_voice else ""
    if language and voice_language(job_voice) != primary(language):
        return language
    return ""
