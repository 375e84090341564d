"""Regenerate the speech fixtures with the project's own packaged voices (16 kHz mono int16 WAV).

    .venv/bin/python bench/make_fixtures.py

Needs the Mandarin voice installed (``localvoice models setup-voices``) and Piper. Also prints each
voice's load time, real-time factor and time to first audio, measured on this machine.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from localvoice.audio.resample import resample
from localvoice.audio.wav import write_wav
from localvoice.backends.tts.packaged import PackagedTTS
from localvoice.config import Config
from localvoice.events import INPUT_RATE_HZ, AudioClip

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "speech"
PHRASES = {
    "question_zh.wav": "今天北京的天气怎么样？",
    "question_en.wav": "What is the capital of France?",
}
TIMED = {
    "zh": ["好的。", "我们明天早上八点在学校门口见面，别迟到了。"],
    "en": ["Sure.", "We will meet at the school gate at eight tomorrow morning, so please do not be late."],
}


async def main() -> None:
    tts = PackagedTTS.from_config(Config())
    try:
        for lang, voice in tts.voices.items():
            started = time.perf_counter()
            await voice.warm_up()
            print(f"{lang}: {type(voice).__name__} loaded in {time.perf_counter() - started:.2f} s")
        for lang, texts in TIMED.items():
            for text in texts:
                started = time.perf_counter()
                clip = await tts.synthesize(text)
                took_s = time.perf_counter() - started
                print(
                    f"{lang}: {clip.duration_s:5.2f} s of audio in {took_s:.2f} s "
                    f"(real-time factor {took_s / clip.duration_s:.2f}) {text}"
                )
        for name, text in PHRASES.items():
            clip = await tts.synthesize(text)
            speech = AudioClip(resample(clip.samples, clip.sample_rate_hz, INPUT_RATE_HZ), INPUT_RATE_HZ)
            write_wav(FIXTURES / name, speech)
            print(f"wrote {FIXTURES / name} ({speech.duration_s:.2f} s)")
    finally:
        await tts.aclose()


if __name__ == "__main__":
    asyncio.run(main())
