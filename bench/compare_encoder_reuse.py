"""Side by side in one process: language detection + transcription with and without encoder reuse.

The packaged TTS speaks the 40 round-trip sentences once; the packaged ASR then transcribes each with
the language left to detect, alternately reusing the detection pass's encoder output and not.
Run from the repository root: ``.venv/bin/python bench/compare_encoder_reuse.py``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.test_round_trip import CHINESE, ENGLISH, _chinese_units, _edits, _english_words

from localvoice.audio.resample import resample
from localvoice.backends.asr.faster_whisper import FasterWhisperASR
from localvoice.backends.tts.packaged import PackagedTTS
from localvoice.config import Config
from localvoice.events import AudioClip


async def main() -> None:
    tts = PackagedTTS.from_config(Config().tts)
    asr = FasterWhisperASR.from_config(Config().asr)
    await tts.warm_up()
    await asr.warm_up()
    clips: list[tuple[str, str, AudioClip]] = []
    for language, sentences in (("zh", CHINESE), ("en", ENGLISH)):
        for sentence in sentences:
            audio = await tts.synthesize(sentence)
            clips.append(
                (language, sentence, AudioClip(resample(audio.samples, audio.sample_rate_hz, 16_000), 16_000))
            )
    reuse = asr._reuse
    model = asr._model
    assert reuse is not None and model is not None
    for mode in ("reuse", "no reuse", "reuse", "no reuse"):
        asr._reuse = reuse if mode == "reuse" else None
        model.encode = reuse if mode == "reuse" else reuse._encode
        errors = {"zh": [0, 0], "en": [0, 0]}
        right_language = 0
        spent = 0.0
        for language, sentence, clip in clips:
            started = time.perf_counter()
            heard = await asr.transcribe(clip, None)
            spent += time.perf_counter() - started
            split = _chinese_units if language == "zh" else _english_words
            reference = split(sentence)
            errors[language][0] += _edits(reference, split(heard.text))
            errors[language][1] += len(reference)
            right_language += heard.language == language
        print(
            f"{mode:8}  mean ASR {spent / len(clips):.3f} s  CER zh {100 * errors['zh'][0] / errors['zh'][1]:.1f} %"
            f"  WER en {100 * errors['en'][0] / errors['en'][1]:.1f} %  language right {right_language}/{len(clips)}"
        )
    await tts.aclose()
    await asr.aclose()


if __name__ == "__main__":
    asyncio.run(main())
