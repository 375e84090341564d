"""Regenerate the speech fixtures with the project's own packaged voices (16 kHz mono int16 WAV).

    .venv/bin/python bench/make_fixtures.py

Needs the Mandarin voice installed (``localvoice models setup-voices``) and Piper. Piper's output
varies from run to run, so each clip is checked with the project's own ASR (the packaged Whisper
base) and synthesized again, up to 5 times, until it is transcribed exactly. Also prints each voice's
load time and real-time factor (a short clause's time is its time to first audio).
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

from localvoice.audio.resample import resample
from localvoice.audio.wav import write_wav
from localvoice.backends.asr.faster_whisper import FasterWhisperASR
from localvoice.backends.tts.packaged import PackagedTTS
from localvoice.config import Config
from localvoice.events import INPUT_RATE_HZ, AudioClip

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "speech"
PHRASES = {
    "question_zh.wav": ("zh", "今天北京的天气怎么样？"),
    "question_en.wav": ("en", "What is the capital of France?"),
}
ATTEMPTS = 5
TIMED = {
    "zh": ["好的。", "我们明天早上八点在学校门口见面，别迟到了。"],
    "en": ["Sure.", "We will meet at the school gate at eight tomorrow morning, so please do not be late."],
}


async def main() -> None:
    tts = PackagedTTS.from_config(Config().tts)
    try:
        for voice_lang, voice in tts.voices.items():
            started = time.perf_counter()
            await voice.warm_up()
            print(f"{voice_lang}: {type(voice).__name__} loaded in {time.perf_counter() - started:.2f} s")
        for lang, texts in TIMED.items():
            for text in texts:
                started = time.perf_counter()
                clip = await tts.synthesize(text)
                took_s = time.perf_counter() - started
                print(
                    f"{lang}: {clip.duration_s:5.2f} s of audio in {took_s:.2f} s "
                    f"(real-time factor {took_s / clip.duration_s:.2f}) {text}"
                )
        asr = FasterWhisperASR.from_config(Config().asr)
        try:
            for name, (lang, text) in PHRASES.items():
                for attempt in range(1, ATTEMPTS + 1):
                    clip = await tts.synthesize(text)
                    speech = AudioClip(
                        resample(clip.samples, clip.sample_rate_hz, INPUT_RATE_HZ), INPUT_RATE_HZ
                    )
                    heard = (await asr.transcribe(speech, language=lang)).text
                    print(f"{name} take {attempt}: heard {heard!r}")
                    if _words(heard) == _words(text):
                        write_wav(FIXTURES / name, speech)
                        print(f"wrote {FIXTURES / name} ({speech.duration_s:.2f} s)")
                        break
                else:
                    raise SystemExit(f"no take of {text!r} was transcribed exactly; {name} left as it was")
        finally:
            await asr.aclose()
    finally:
        await tts.aclose()


def _words(text: str) -> str:
    return re.sub(r"[\W_]+", "", text).lower()


if __name__ == "__main__":
    asyncio.run(main())
