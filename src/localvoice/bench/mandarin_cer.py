"""``mandarin_cer``: how well the ASR hears people speaking Mandarin (character error rate).

The speech is human, not the project's TTS: Debian's ``gcin-voice`` package (an input method's
pronunciation sounds) holds every Mandarin syllable recorded by two people. ``speak`` splices them
into the everyday sentences of ``tests/fixtures/mandarin_human/sentences.tsv`` with short gaps, as a
slow, careful speaker would say them. Whisper has never seen these exact clips, and they carry no
trace of our own voice, so the numbers say how it hears people.

Each decode setting is measured on the same clips: the old one (a simplified-Chinese prompt, greedy)
through faster-whisper directly, the others through the ``FasterWhisperASR`` backend as it ships.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from faster_whisper import WhisperModel

from localvoice.audio.wav import read_audio, to_float32, to_int16
from localvoice.backends.asr.chinese import SegmentScore, is_hallucination, to_simplified
from localvoice.backends.asr.faster_whisper import QUIET_RMS_DBFS, FasterWhisperASR
from localvoice.bench.result import ScenarioResult
from localvoice.config import Config
from localvoice.errors import BadInputError
from localvoice.events import AudioClip
from localvoice.models.packaged import ensure_model
from localvoice.text.script import is_cjk

SYLLABLE_DIR = Path("/usr/share/gcin-voice/ogg")  # Debian gcin-voice: <zhuyin><tone digit>/<speaker>.ogg
SPEAKERS = ("3", "5")  # two different people (see /usr/share/doc/gcin-voice/copyright)
INSTALL_HINT = "install Debian's gcin-voice package (apt-get install gcin-voice; `make setup` does it)"
RATE_HZ = 16_000
_RELATIVE_FILE = Path("tests") / "fixtures" / "mandarin_human" / "sentences.tsv"
# gcin-voice names a syllable's folder by its zhuyin and a tone digit: none for the first tone,
# 1 for the neutral tone, 2–4 for the others.
_TONE_DIGITS = {"ˊ": "2", "ˇ": "3", "ˋ": "4", "˙": "1"}
_CHINESE_DIGITS = dict(zip("0123456789", "零一二三四五六七八九", strict=True))
# The old decoding's prompt, kept here only to measure what it did; the backend no longer sends it.
OLD_PROMPT = "以下是普通话的句子，使用简体中文。"
# Gaps between syllables: a short one inside a clause, a pause at a comma, silence around the clip.
SYLLABLE_GAP_S = 0.04
COMMA_PAUSE_S = 0.25
EDGE_SILENCE_S = 0.25
_TRIM_BELOW_DB = -35.0  # a syllable's recording is trimmed where its 10 ms level is this far below peak
_TARGET_RMS = 0.08  # each syllable is brought to about -22 dBFS so the clip has an even level


@dataclass(frozen=True, slots=True)
class Sentence:
    text: str
    syllables: tuple[str, ...]  # zhuyin with tone marks, one per Chinese character of ``text``


def default_sentences_file() -> Path:
    """The repository's sentence list: found from the working directory, else from this source file."""
    for base in (Path.cwd(), *Path(__file__).resolve().parents):
        candidate = base / _RELATIVE_FILE
        if candidate.is_file():
            return candidate
    return Path.cwd() / _RELATIVE_FILE


def load_sentences(path: Path | None = None) -> list[Sentence]:
    path = path or default_sentences_file()
    if not path.is_file():
        raise BadInputError(f"the Mandarin sentence list {path} does not exist; run from the repository")
    sentences: list[Sentence] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        text, _, spoken = line.partition("\t")
        syllables = tuple(spoken.split())
        if sum(map(is_cjk, text)) != len(syllables):
            raise BadInputError(f"{path}:{number}: {len(syllables)} syllables for the characters of {text}")
        sentences.append(Sentence(text, syllables))
    return sentences


def syllable_path(zhuyin: str, speaker: str, syllable_dir: Path = SYLLABLE_DIR) -> Path:
    folder = "".join(_TONE_DIGITS.get(ch, ch) for ch in zhuyin)
    return syllable_dir / folder / f"{speaker}.ogg"


def _trimmed(samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The syllable without the silence its recording starts and ends with, at an even level."""
    frame = RATE_HZ // 100
    frames = samples[: samples.size // frame * frame].reshape(-1, frame)
    level = np.sqrt(np.mean(np.square(frames), axis=1)) + 1e-9
    loud = np.flatnonzero(20 * np.log10(level / level.max()) > _TRIM_BELOW_DB)
    voiced = samples[loud[0] * frame : (loud[-1] + 1) * frame]
    fade = np.minimum(1.0, np.arange(voiced.size) / (0.005 * RATE_HZ))
    voiced = voiced * fade * fade[::-1]  # 5 ms fades: no clicks at the joins
    rms = float(np.sqrt(np.mean(np.square(voiced))))
    gain = min(_TARGET_RMS / max(rms, 1e-6), 0.95 / max(float(np.abs(voiced).max()), 1e-6))
    out: npt.NDArray[np.float32] = (voiced * gain).astype(np.float32)
    return out


def speak(sentence: Sentence, speaker: str, syllable_dir: Path = SYLLABLE_DIR) -> AudioClip:
    """The sentence spoken by one of the package's two people, 16 kHz mono."""
    if not syllable_dir.is_dir():
        raise BadInputError(f"no recorded Mandarin syllables at {syllable_dir}: {INSTALL_HINT}")
    pauses_after = _pauses(sentence.text)
    pieces = [np.zeros(int(EDGE_SILENCE_S * RATE_HZ), np.float32)]
    for index, zhuyin in enumerate(sentence.syllables):
        path = syllable_path(zhuyin, speaker, syllable_dir)
        if not path.is_file():
            raise BadInputError(f"gcin-voice has no recording {path} for {zhuyin} in {sentence.text}")
        pieces.append(_trimmed(to_float32(read_audio(path, RATE_HZ).samples)))
        gap_s = COMMA_PAUSE_S if index in pauses_after else SYLLABLE_GAP_S
        pieces.append(np.zeros(int(gap_s * RATE_HZ), np.float32))
    pieces.append(np.zeros(int(EDGE_SILENCE_S * RATE_HZ), np.float32))
    return AudioClip(to_int16(np.concatenate(pieces)), RATE_HZ)


def _pauses(text: str) -> set[int]:
    """Indexes of the syllables followed by a comma or other mid-sentence mark."""
    pauses: set[int] = set()
    syllable = -1
    for ch in text:
        if is_cjk(ch):
            syllable += 1
        elif ch in "，、；：,;:" and syllable >= 0:
            pauses.add(syllable)
    return pauses


def chinese_characters(text: str) -> list[str]:
    """The characters a CER counts: Chinese ones, with single digits read as Chinese numerals."""
    return [c for c in (_CHINESE_DIGITS.get(ch, ch) for ch in text) if is_cjk(c)]


def edit_distance(a: list[str], b: list[str]) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


def has_prompt_text(text: str) -> bool:
    """True when a transcript repeats any part of the old prompt (its clauses, or 简体中文)."""
    compact = "".join(chinese_characters(text))
    return any(part in compact for part in ("以下是普通话", "普通话的句子", "使用简体中文", "简体中文"))


@dataclass
class Scores:
    """Errors over the reference characters, prompt echoes, and each utterance's decode time."""

    edits: int = 0
    characters: int = 0
    prompt_echoes: int = 0
    decode_s: list[float] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)

    def add(self, expected: str, heard: str, took_s: float) -> None:
        reference, hypothesis = chinese_characters(expected), chinese_characters(heard)
        errors = edit_distance(reference, hypothesis)
        self.edits += errors
        self.characters += len(reference)
        self.prompt_echoes += has_prompt_text(heard)
        self.decode_s.append(took_s)
        if errors:
            self.misses.append(f"{expected} → {heard}")

    @property
    def cer(self) -> float:
        return self.edits / max(self.characters, 1)


def old_decode(model: WhisperModel, clip: AudioClip, beam_size: int) -> str:
    """The decoding before issue 8: simplified-Chinese prompt, Whisper's six-step temperature
    fallback and no token cap, then OpenCC and the credit filter, as the backend did it."""
    samples = to_float32(clip.samples)
    segments, _ = model.transcribe(
        samples,
        language="zh",
        beam_size=beam_size,
        initial_prompt=OLD_PROMPT,
        condition_on_previous_text=False,
    )
    quiet = 20 * np.log10(max(float(np.sqrt(np.mean(np.square(samples)))), 1e-10)) < QUIET_RMS_DBFS
    kept = []
    for segment in segments:
        text = to_simplified(segment.text.strip())
        score = SegmentScore(text, segment.no_speech_prob, segment.avg_logprob)
        if text and not is_hallucination(score, quiet):
            kept.append(text)
    return "".join(kept)


Transcribe = Callable[[AudioClip], Awaitable[str]]


async def compare(
    clips: Sequence[tuple[str, Sentence, AudioClip]], settings: dict[str, Transcribe]
) -> dict[str, dict[str, Scores]]:
    """Every setting on every clip, interleaved clip by clip so a busy machine slows them alike."""
    scores = {key: {speaker: Scores() for speaker in SPEAKERS} for key in settings}
    for speaker, sentence, clip in clips:
        for key, transcribe in settings.items():
            began = time.perf_counter()
            heard = await transcribe(clip)
            scores[key][speaker].add(sentence.text, heard, time.perf_counter() - began)
    return scores


def merged(by_speaker: dict[str, Scores]) -> Scores:
    total = Scores()
    for part in by_speaker.values():
        total.edits += part.edits
        total.characters += part.characters
        total.prompt_echoes += part.prompt_echoes
        total.decode_s += part.decode_s
        total.misses += part.misses
    return total


# key → (label, beam size, old decoding?, language given to the backend, encoder window in seconds;
# None: the config's)
SETTINGS: dict[str, tuple[str, int, bool, str | None, float | None]] = {
    "before_beam1": ("before: prompt, greedy (the old default)", 1, True, "zh", 30.0),
    "before_beam5": ("prompt, beam 5", 5, True, "zh", 30.0),
    "after_beam1": ("no prompt + OpenCC, greedy, capped", 1, False, "zh", None),
    "after_beam5": ("after: no prompt + OpenCC, beam 5, capped (zh given)", 5, False, "zh", None),
    "after_detect": ("after, language detected among zh/en", 5, False, None, None),
    "full_window": ("after, but the encoder reads Whisper's whole 30 s window", 5, False, "zh", 30.0),
}


async def run_mandarin_cer(config: Config, runs: int) -> ScenarioResult:
    """CER and decode time of each setting, on every sentence spoken by both people."""
    result = ScenarioResult(
        "mandarin_cer", "Mandarin CER on human speech (gcin-voice syllables, Whisper base)"
    )
    sentences = load_sentences()
    clips = [(speaker, s, speak(s, speaker)) for speaker in SPEAKERS for s in sentences] * runs
    audio_s = sum(clip.duration_s for _, _, clip in clips)
    result.headline.update(utterances=len(clips), audio_s=round(audio_s, 1))
    threads = config.asr.cpu_threads or os.cpu_count() or 1  # as the backend does
    raw = WhisperModel(
        str(ensure_model("whisper-base")),
        device="cpu",
        compute_type="int8",
        cpu_threads=threads,
        local_files_only=True,
    )
    backends: list[FasterWhisperASR] = []
    settings: dict[str, Transcribe] = {}
    for key, (_, beam, old, language, window_s) in SETTINGS.items():
        if old:
            settings[key] = functools.partial(_old, raw, beam)
        else:
            window = config.asr.encoder_window_s if window_s is None else window_s
            asr = FasterWhisperASR.from_config(
                dataclasses.replace(config.asr, beam_size=beam, encoder_window_s=window)
            )
            await asr.warm_up()
            backends.append(asr)
            settings[key] = functools.partial(_backend, asr, language)
    try:
        scores = await compare(clips, settings)
    finally:
        for asr in backends:
            await asr.aclose()
    for key, by_speaker in scores.items():
        label = SETTINGS[key][0]
        total = merged(by_speaker)
        result.add(f"{key}:decode_ms", [s * 1000 for s in total.decode_s], f"{label}: decode one utterance")
        result.headline[f"{key}.cer"] = round(total.cer, 4)
        for speaker, part in by_speaker.items():
            result.headline[f"{key}.cer_speaker{speaker}"] = round(part.cer, 4)
        result.headline[f"{key}.prompt_echoes"] = total.prompt_echoes
        result.headline[f"{key}.max_decode_ms"] = round(max(total.decode_s) * 1000)
        result.details.append({"setting": label, "cer": round(total.cer, 4), "misses": total.misses})
    return result


async def _old(model: WhisperModel, beam: int, clip: AudioClip) -> str:
    return await asyncio.to_thread(old_decode, model, clip, beam)


async def _backend(asr: FasterWhisperASR, language: str | None, clip: AudioClip) -> str:
    return (await asr.transcribe(clip, language)).text
