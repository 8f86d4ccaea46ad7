"""A language and a voice per question and per clip: the reveal's phrase in the question's language, the voice
that reads each clip, the fields refused by name, and a bilingual job narrated in both languages end to end."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from temporalio.client import Client

from activities.narration import narration_key
from contracts.job import JobError, parse_job
from contracts.job_models import job_schema
from contracts.languages import ANSWER_PHRASES, answer_phrase, clip_voice, language_problem, voice_problem
from contracts.plan import plan_video
from contracts.themes import BUILTIN_THEMES
from engine.deps import Deps
from engine.storage import file_path
from engine.tts import make_tts
from starter import RenderClient

FONTS_COVER = [
    "en",
    "es",
    "fr",
    "de",
    "it",
    "pt",
    "nl",
    "ru",
    "ja",
    "zh",
    "ko",
    "ar",
    "he",
    "hi",
    "th",
    "tr",
    "pl",
    "vi",
]


def question(text: str, answers: list[str], **extra: Any) -> dict[str, Any]:
    return {"question": text, **dict(zip(["answer_a", "answer_b", "answer_c", "answer_d"], answers, strict=True)),
            "correct_answer": answers[0], **extra}  # fmt: skip


PARIS = question("What is the capital of France?", ["Paris", "Lyon", "Nice", "Lille"])
MADRID = question("¿Cuál es la capital de España?", ["Madrid", "Sevilla", "Valencia", "Bilbao"], language="es")


def bilingual(**extra: Any) -> dict[str, Any]:
    return {"video_id": "bilingual", "tts_voice": "en-US", "questions": [PARIS, MADRID], **extra}


def reveals(raw: dict[str, Any], theme: str | None = None) -> list[tuple[str, str | None]]:
    job = parse_job(raw)
    plan = plan_video(job, BUILTIN_THEMES[theme] if theme else None)
    return [(c.spec.voice or job.tts_voice, c.spec.narration) for c in plan.clips if c.spec.kind == "reveal"]


def test_every_language_the_fonts_cover_has_a_phrase_holding_the_answer_once() -> None:
    assert set(FONTS_COVER) <= set(ANSWER_PHRASES)
    for language, phrase in ANSWER_PHRASES.items():
        assert phrase.count("{answer}") == 1, language
    assert answer_phrase("es-MX") == "La respuesta es {answer}."
    assert answer_phrase("") == answer_phrase("en-GB") == "The answer is {answer}."
    assert answer_phrase("cmn-CN") == "答案是{answer}。"
    # A theme's phrase for the tag comes first, then for its language; its answer_phrase is the English one.
    overrides = {"es": "¡Es {answer}!", "es-MX": "¡Órale, {answer}!"}
    assert answer_phrase("es-MX", overrides, "Yes: {answer}") == "¡Órale, {answer}!"
    assert answer_phrase("es-AR", overrides, "Yes: {answer}") == "¡Es {answer}!"
    assert answer_phrase("en", overrides, "Yes: {answer}") == "Yes: {answer}"
    assert answer_phrase("fr", overrides, "Yes: {answer}") == "La réponse est {answer}."


def test_a_clip_is_read_by_its_own_voice_else_its_languages_else_the_jobs() -> None:
    assert clip_voice(None, "es", "en-US") == "es"
    assert clip_voice(None, "es-MX", "es-ES-Neural2-A") == ""  # the job's voice already speaks Spanish
    assert clip_voice("es-US-Neural2-B", "es", "en-US") == "es-US-Neural2-B"
    assert clip_voice("en-US", None, "en-US") == ""
    assert clip_voice(None, None, "en-US") == ""
    assert language_problem("pt-BR") is None and language_problem("zh-Hant-TW") is None
    assert voice_problem("Lucia", "es") is None  # a Polly id does not say its language
    assert voice_problem("es-ES-Neural2-A", "es-MX") is None


def test_a_bilingual_job_reveals_each_answer_in_its_questions_language_and_voice() -> None:
    expected = [("en-US", "The answer is Paris."), ("es", "La respuesta es Madrid.")]
    assert reveals(bilingual()) == expected
    assert reveals(bilingual(), "midnight") == expected
    job = parse_job(bilingual())
    assert [(c.kind, c.language, c.voice) for c in job.clips] == [
        ("question", "", ""), ("reveal", "", ""), ("question", "es", "es"), ("reveal", "es", "es"),
    ]  # fmt: skip
    # The job's language: a job in Spanish with no voice is read, and revealed, in Spanish.
    spanish = {"video_id": "es", "language": "es", "questions": [PARIS]}
    assert reveals(spanish) == [("es", "La respuesta es Paris.")]
    # A Spanish voice says the Spanish phrase even when the job names no language.
    assert reveals({"video_id": "v", "tts_voice": "es-ES", "questions": [PARIS]}) == [
        ("es-ES", "La respuesta es Paris.")
    ]
    # A clip of its own: a card read in Japanese by the voice it names.
    card = {"kind": "card", "duration": 2, "lines": ["問題"], "narration": "問題です", "language": "ja"}
    planned = plan_video(parse_job({"video_id": "c", "clips": [card]})).clips[0]
    assert (planned.spec.voice, planned.language) == ("ja", "ja")


def test_a_themes_answer_phrases_word_the_reveal_per_language() -> None:
    theme = {"name": "mine", "answer_phrase": "Correct: {answer}!", "answer_phrases": {"es": "¡Es {answer}!"}}
    job = parse_job(bilingual(theme=theme))
    said = [c.spec.narration for c in plan_video(job).clips if c.spec.kind == "reveal"]
    assert said == ["Correct: Paris!", "¡Es Madrid!"]


def test_a_themes_answer_phrases_match_language_tags_whatever_their_case() -> None:
    """Language tags are case-insensitive: a theme's `ES` or `pt-BR` phrase words a question tagged `es` or `pt-br`."""
    theme = {"name": "mine", "answer_phrases": {"ES": "¡Es {answer}!", "pt-BR": "É {answer}!"}}
    portuguese = question("Qual é a capital do Brasil?", ["Brasília", "Rio", "Recife", "Natal"], language="pt-br")
    job = parse_job(bilingual(theme=theme) | {"questions": [MADRID, portuguese]})
    said = [c.spec.narration for c in plan_video(job).clips if c.spec.kind == "reveal"]
    assert said == ["¡Es Madrid!", "É Brasília!"]
    with pytest.raises(JobError, match=r"theme\.answer_phrases: names the tag 'pt-br' twice"):
        parse_job(bilingual(theme={"answer_phrases": {"pt-BR": "É {answer}!", "pt-br": "Era {answer}!"}}))


@pytest.mark.parametrize("language", ["jpn", "kor", "iw", "nn", "iw-IL"])
async def test_every_language_code_the_contract_takes_is_spoken_by_espeak(language: str, tmp_path: Path) -> None:
    """`jpn`, `kor`, `iw` and `nn` name languages of the table, but espeak-ng knows them as `ja`, `ko`, `he` and
    `no`: a question tagged `jpn` was narrated by no voice, silent and without a caption."""
    engine = make_tts("auto")
    if engine.name != "espeak-ng":
        pytest.skip("espeak-ng is not installed")
    job = parse_job({"video_id": "c", "clips": [{"kind": "card", "duration": 1, "lines": ["x"], "narration": "a b",
                                                  "language": language}]})  # fmt: skip
    assert await engine.synthesize("a b", job.clips[0].voice, 1.0, tmp_path / "said.wav")


def test_a_job_without_languages_keeps_its_clips_keys() -> None:
    """The new fields are hashed only when set: the sample's clips keep the keys they had."""
    sample = json.loads((Path(__file__).parent.parent / "examples" / "trivia-sample.json").read_text())
    keys = [c.key for c in plan_video(parse_job(sample)).clips]
    explicit = {**sample, "questions": [{**q, "language": None, "voice": None} for q in sample["questions"]]}
    assert [c.key for c in plan_video(parse_job(explicit)).clips] == keys
    spanish = {**sample, "questions": [{**sample["questions"][0], "language": "es"}, *sample["questions"][1:]]}
    changed = [a != b for a, b in zip(keys, [c.key for c in plan_video(parse_job(spanish)).clips], strict=True)]
    assert changed[:2] == [True, True] and not any(changed[2:])


@pytest.mark.parametrize(
    ("where", "extra", "field", "message"),
    [
        ("questions", {"language": "xx"}, "questions[1].language", "unknown language 'xx' (known: ar, cs,"),
        ("questions", {"language": "e s"}, "questions[1].language", "expected a language tag like 'es'"),
        ("questions", {"language": 7}, "questions[1].language", "expected a string, got a number"),
        ("questions", {"language": "es", "voice": "en-US"}, "questions[1].voice", "'en-US' speaks en, but the"),
        ("questions", {"voice": "qq-ZZ"}, "questions[1].voice", "unknown voice 'qq-ZZ': its language 'qq'"),
        ("questions", {"voice": "bad voice"}, "questions[1].voice", "expected a voice name like 'en-US'"),
        ("clips", {"language": "klingon"}, "clips[0].language", "expected a language tag like 'es'"),
        ("job", {"language": "de", "tts_voice": "fr-FR"}, "tts_voice", "'fr-FR' speaks fr, but the text's"),
        ("theme", {"answer_phrases": {"xx": "{answer}"}}, "theme.answer_phrases", "unknown language 'xx'"),
        ("theme", {"answer_phrases": {"es": "Es"}}, "theme.answer_phrases.es", "must hold {answer} exactly once"),
    ],
)
def test_a_bad_language_or_voice_is_refused_naming_the_field(
    where: str, extra: dict[str, Any], field: str, message: str
) -> None:
    card = {"kind": "card", "duration": 1, "narration": "Hola"}
    raw: dict[str, Any] = {"video_id": "bad", "questions": [PARIS, PARIS], "clips": [card]}
    if where == "questions":
        raw["questions"] = [PARIS, {**PARIS, **extra}]
    elif where == "clips":
        raw["clips"] = [{**card, **extra}]
    elif where == "theme":
        raw["theme"] = {"name": "t", **extra}
    else:
        raw.update(extra)
    with pytest.raises(JobError) as refused:
        parse_job(raw)
    found = [(f, m) for f, m in refused.value.problems if f.startswith(field) and m.startswith(message)]
    assert found, refused.value.problems


def test_the_schema_takes_a_language_and_a_voice_per_question_and_clip() -> None:
    validator = jsonschema.Draft202012Validator(job_schema())
    card = {"kind": "card", "duration": 1, "narration": "Bonjour", "language": "fr", "voice": "fr-FR"}
    assert not list(validator.iter_errors({**bilingual(), "clips": [card], "language": "en"}))
    assert list(validator.iter_errors({**bilingual(), "questions": [{**MADRID, "language": "español"}]}))


async def speech(deps: Deps, voice: str, text: str) -> bytes:
    """What the worker stores for `text` read by `voice` (the same synthesis and levelling as a render)."""
    from activities.narration import narration_file

    engine = make_tts("espeak", deps.settings)
    key = narration_key(engine.name, voice, 1.0, text)
    local = await narration_file(
        deps, engine, key, text, voice, 1.0, deps.settings.storage.scratch_dir / uuid.uuid4().hex
    )
    assert local is not None
    return local.read_bytes()


@pytest.mark.usefixtures("workers")
async def test_a_bilingual_job_is_narrated_in_both_languages(client: Client, deps: Deps, tmp_path: Path) -> None:
    engine = make_tts("auto", deps.settings)
    if engine.name != "espeak-ng":
        pytest.skip("espeak-ng is not installed")
    raw = {
        **bilingual(video_id=f"bilingual-{uuid.uuid4().hex[:8]}"),
        "profile": {"width": 160, "height": 90},
        "question_seconds": 1,
        "reveal_seconds": 1,
    }
    renders = RenderClient(client)
    result = await asyncio.wait_for(renders.result(await renders.submit(raw)), timeout=240)
    assert file_path(result.output_uri).exists()

    work = file_path(deps.settings.storage.work_uri)
    stored = {
        (voice, text): work / narration_key(engine.name, voice, 1.0, text)
        for voice in ("en-US", "es")
        for text in ("The answer is Paris.", "La respuesta es Madrid.", "¿Cuál es la capital de España?")
    }
    # The render stored the English reveal in the English voice, the Spanish one in the Spanish voice, and nothing else.
    assert stored[("en-US", "The answer is Paris.")].exists()
    assert (
        stored[("es", "La respuesta es Madrid.")].exists() and stored[("es", "¿Cuál es la capital de España?")].exists()
    )
    assert not stored[("en-US", "La respuesta es Madrid.")].exists()
    assert not stored[("es", "The answer is Paris.")].exists()
    # Made again apart from the render: the Spanish voice's reading is the render's, and the English voice's differs.
    own = deps.settings.replace(storage={"work_uri": tmp_path.as_uri(), "scratch_dir": tmp_path})
    apart = Deps(own, deps.storages)
    spanish = stored[("es", "La respuesta es Madrid.")].read_bytes()
    assert await speech(apart, "es", "La respuesta es Madrid.") == spanish
    assert await speech(apart, "en-US", "La respuesta es Madrid.") != spanish
