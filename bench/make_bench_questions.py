"""Make the spoken bench questions: 4 Mandarin + 4 English everyday questions, voiced by the project's
own packaged TTS, saved as 16 kHz mono int16 WAVs with a manifest of their text and language.

    .venv/bin/python bench/make_bench_questions.py [--out tests/fixtures/speech/bench]
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from localvoice.audio.resample import resample
from localvoice.audio.wav import write_wav
from localvoice.backends.tts.packaged import PackagedTTS
from localvoice.bench.questions import MANIFEST_NAME
from localvoice.config import Config
from localvoice.events import INPUT_RATE_HZ, AudioClip

QUESTIONS: list[tuple[str, str, str]] = [
    ("zh_sleep.wav", "zh", "怎么才能睡得更好？"),
    ("zh_dinner.wav", "zh", "今天晚饭做点什么好呢？"),
    ("zh_weekend.wav", "zh", "周末在家可以做些什么？"),
    ("zh_study.wav", "zh", "怎样才能更专心地学习？"),
    ("en_sleep.wav", "en", "How can I sleep better?"),
    ("en_dinner.wav", "en", "What should I cook for dinner tonight?"),
    ("en_relax.wav", "en", "How can I relax after work?"),
    ("en_language.wav", "en", "Any tips for learning a new language?"),
]


async def make(out_dir: Path) -> None:
    tts = PackagedTTS.from_config(Config().tts)
    if tts.notices:
        raise SystemExit("the packaged voices are not all installed: " + " ".join(tts.notices))
    await tts.warm_up()
    try:
        entries = []
        for file_name, language, text in QUESTIONS:
            spoken = await tts.synthesize(text)
            samples = resample(spoken.samples, spoken.sample_rate_hz, INPUT_RATE_HZ)
            write_wav(out_dir / file_name, AudioClip(samples, INPUT_RATE_HZ))
            entries.append({"file": file_name, "text": text, "language": language})
            print(f"{file_name}: {len(samples) / INPUT_RATE_HZ:.2f} s  {text}")
        manifest = json.dumps(entries, ensure_ascii=False, indent=2) + "\n"
        (out_dir / MANIFEST_NAME).write_text(manifest, encoding="utf-8")
    finally:
        await tts.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("tests/fixtures/speech/bench"))
    args = parser.parse_args()
    asyncio.run(make(args.out))


if __name__ == "__main__":
    main()
