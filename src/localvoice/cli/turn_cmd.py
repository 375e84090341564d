"""One-shot commands on files: ``turn`` (a spoken question → a spoken answer), ``say``, ``transcribe``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from localvoice.clock import MonotonicClock
from localvoice.config import Config
from localvoice.errors import BadInputError
from localvoice.events import INPUT_RATE_HZ, OUTPUT_RATE_HZ, ConversationEvent, Transcript, TurnTimings
from localvoice.session import Session
from localvoice.transcript_log import TranscriptLog

from .output import check_output_file, notify_stderr


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    turn = commands.add_parser(
        "turn",
        help="one spoken turn from a WAV file: transcribe, answer, speak the answer to a WAV",
        description="Transcribe IN.wav, answer it with the LLM and write the spoken answer to OUT.wav. "
        "Prints YOU: and AI: lines, or one JSON object with --json. Any common rate, width and "
        "channel count is accepted.",
    )
    turn.add_argument("input", type=Path, metavar="IN.wav")
    turn.add_argument("--out", type=Path, required=True, metavar="OUT.wav")
    turn.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    turn.add_argument("--language", default=None, help="spoken language (zh, en); default: config or detect")
    turn.set_defaults(func=run_turn)

    say = commands.add_parser("say", help="speak TEXT to a WAV file with the configured voice")
    say.add_argument("text", metavar="TEXT")
    say.add_argument("--out", type=Path, required=True, metavar="OUT.wav")
    say.set_defaults(func=run_say)

    transcribe = commands.add_parser("transcribe", help="transcribe an audio file")
    transcribe.add_argument("input", type=Path, metavar="IN.wav")
    transcribe.add_argument("--language", default=None, help="zh, en, ...; default: config or detect")
    transcribe.add_argument("--json", action="store_true", help="print JSON with segments")
    transcribe.set_defaults(func=run_transcribe)


def _language(args: argparse.Namespace, config: Config) -> str | None:
    return args.language or config.asr.language or None


async def run_turn(args: argparse.Namespace, config: Config) -> int:
    from localvoice.audio.sinks import CollectingSink
    from localvoice.audio.wav import read_audio, write_wav

    question = read_audio(args.input, INPUT_RATE_HZ)  # bad input fails before any model loads
    check_output_file(args.out)
    clock = MonotonicClock()
    timings: list[TurnTimings] = []

    def keep_timings(event: ConversationEvent) -> None:
        if isinstance(event, TurnTimings):
            timings.append(event)

    async with Session(config, notify_stderr, need_asr=True) as session:
        assert session.asr is not None and session.llm is not None and session.tts is not None
        sink = CollectingSink(OUTPUT_RATE_HZ)
        conversation = session.conversation(
            sink, clock, observers=[keep_timings], log=TranscriptLog.from_config(config)
        )
        # The question has fully arrived: from here on the user is waiting.
        speech_end = clock.now()
        transcript = await session.asr.transcribe(question, _language(args, config))
        asr_ms = round((clock.now() - speech_end) * 1000.0, 1)
        if not transcript.text.strip():
            raise BadInputError(f"no speech was recognised in {args.input}")
        if not args.json:
            print(f"YOU: {transcript.text}", flush=True)
        finished = await conversation.reply_to(transcript.text, transcript.language, speech_end, asr_ms)
        answer = sink.collected()
        write_wav(args.out, answer)

    measured = timings[-1].as_dict() if timings else {}
    if args.json:
        result = {
            "transcript": transcript.text,
            "language": transcript.language,
            "reply": finished.heard,
            "audio": str(args.out),
            "audio_s": round(answer.duration_s, 2),
            "timings_ms": measured,
            "error": finished.error,
        }
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(f"AI: {finished.heard}")
        stages = ", ".join(f"{name} {value:.0f} ms" for name, value in measured.items() if value is not None)
        print(f"[{stages}; answer {answer.duration_s:.1f} s → {args.out}]", file=sys.stderr)
    return 1 if finished.error and not finished.heard else 0


async def run_say(args: argparse.Namespace, config: Config) -> int:
    from localvoice.audio.sinks import CollectingSink
    from localvoice.audio.wav import write_wav
    from localvoice.text.chunker import SentenceChunker
    from localvoice.text.normalize import SpeechFilter

    if not args.text.strip():
        raise BadInputError("say needs some text to speak")
    check_output_file(args.out)
    async with Session(config, notify_stderr, need_llm=False) as session:
        assert session.tts is not None
        chunker = SentenceChunker()
        speech = SpeechFilter()
        sink = CollectingSink(OUTPUT_RATE_HZ)
        for clause in [*chunker.push(args.text), *chunker.flush()]:
            spoken = speech.feed(clause)
            if spoken.strip():
                sink.enqueue(await session.tts.synthesize(spoken))
        audio = sink.collected()
    write_wav(args.out, audio)
    print(f"wrote {audio.duration_s:.1f} s to {args.out}", file=sys.stderr)
    return 0


async def run_transcribe(args: argparse.Namespace, config: Config) -> int:
    from localvoice.audio.wav import read_audio

    audio = read_audio(args.input, INPUT_RATE_HZ)
    async with Session(config, notify_stderr, need_asr=True, need_llm=False, need_tts=False) as session:
        assert session.asr is not None
        transcript = await session.asr.transcribe(audio, _language(args, config))
    if args.json:
        print(json.dumps(transcript_json(transcript), ensure_ascii=False))
    else:
        print(transcript.text)
    return 0


def transcript_json(transcript: Transcript) -> dict[str, object]:
    return {
        "text": transcript.text,
        "language": transcript.language,
        "duration_s": round(transcript.duration_s, 3),
        "segments": [
            {"start": round(s.start_s, 3), "end": round(s.end_s, 3), "text": s.text}
            for s in transcript.segments
        ],
    }
