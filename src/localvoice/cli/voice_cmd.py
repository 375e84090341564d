"""``localvoice voice add | list | use | remove | show | prepare``: the user's cloned voices."""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

from localvoice.audio.wav import read_audio, write_wav
from localvoice.cli.output import notify_stderr
from localvoice.cli.parser import examples
from localvoice.config import Config
from localvoice.errors import BadInputError
from localvoice.events import AudioClip
from localvoice.voiceclone.reference import MAX_S, MIN_S, best_window, duration_problem
from localvoice.voiceclone.voices import PROMPT_LANGUAGES, Voice, VoiceStore, check_name

STORE_RATE_HZ = 32_000  # GPT-SoVITS's own rate for v1/v2 voices


def add_voice_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "voice",
        help="your own voice: add a reference clip for GPT-SoVITS, choose it, prepare training data",
        description="Cloned voices for the GPT-SoVITS TTS backend. A voice is a 3–10 s reference clip "
        "and its exact transcript (zero-shot), optionally with weights trained in GPT-SoVITS.",
        epilog=examples(
            "localvoice voice add me --ref me.wav --text 今天天气很好，我们出去走走吧。",
            "localvoice voice use me",
            "localvoice voice prepare long_recording.wav --speaker me --out data/me",
        ),
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = actions.add_parser(
        "add",
        help="add a voice from a 3–10 s reference clip",
        description="Store a copy of the reference clip under the user data dir. It must be 3–10 s; "
        "from a longer clip the best 3–10 s window is offered. Without --text it is transcribed.",
        epilog=examples(
            "localvoice voice add me --ref me.wav",
            "localvoice voice add me --ref me.wav --gpt-weights me-e15.ckpt --sovits-weights me_e8.pth",
        ),
    )
    add.add_argument("name", metavar="NAME")
    add.add_argument("--ref", type=Path, required=True, help="the reference recording (any audio file)")
    add.add_argument("--text", help="exactly what the reference says (default: transcribe it)")
    add.add_argument("--language", default="zh", choices=PROMPT_LANGUAGES, help="the reference's language")
    add.add_argument("--window", help="use START-END seconds of the clip, or 'best' for the best 3–10 s")
    add.add_argument("--aux", type=Path, action="append", default=[], help="another clip of the voice")
    add.add_argument("--gpt-weights", default="", help="trained GPT weights (.ckpt) for the server")
    add.add_argument("--sovits-weights", default="", help="trained SoVITS weights (.pth) for the server")
    add.add_argument("--replace", action="store_true", help="replace a voice of the same name")
    add.set_defaults(func=run_add)

    listing = actions.add_parser(
        "list",
        help="list the voices; * marks the one in use",
        description="List the voices; * marks the one in use.",
        epilog=examples("localvoice voice list"),
    )
    listing.set_defaults(func=run_list)
    for name, about, func in (
        ("use", "speak with this voice (tts.backend auto or gpt_sovits)", run_use),
        ("remove", "delete a voice and its stored clips", run_remove),
        ("show", "show a voice's reference, transcript and weights", run_show),
    ):
        action = actions.add_parser(
            name,
            help=about,
            description=about[0].upper() + about[1:] + ".",
            epilog=examples(f"localvoice voice {name} me"),
        )
        action.add_argument("name", metavar="NAME")
        action.set_defaults(func=func)

    check = actions.add_parser(
        "check",
        help="how much the cloned voice sounds like its reference (needs the server and the voicecheck extra)",
        description="Synthesize a few sentences with the voice through GPT-SoVITS and compare them with "
        "the reference clip by speaker embedding (Resemblyzer): a number and a plain reading. "
        "Needs: pip install 'localvoice[voicecheck]'.",
        epilog=examples("localvoice voice check me", "localvoice voice check me --save me_check.wav"),
    )
    check.add_argument("name", metavar="NAME")
    check.add_argument("--text", help="what to synthesize (default: two everyday sentences)")
    check.add_argument("--save", type=Path, help="also write the synthesized speech to this WAV")
    check.set_defaults(func=run_check)

    from localvoice.cli.voice_prepare_cmd import add_prepare_parser

    add_prepare_parser(actions)


async def run_add(args: argparse.Namespace, config: Config) -> int:
    check_name(args.name)
    store = VoiceStore.from_config(config.tts.gpt_sovits)
    if args.name in store.names() and not args.replace:
        raise BadInputError(f"a voice named {args.name!r} exists: pass --replace or pick another name.")
    for weights in (args.gpt_weights, args.sovits_weights):
        if weights and not Path(weights).is_file():
            raise BadInputError(f"{weights} does not exist: give the path of the trained weights file.")
    for clip in args.aux:
        read_audio(clip)  # a clear error for a clip that is not audio
    audio = read_audio(args.ref, STORE_RATE_HZ)
    window = _choose_window(args, audio)
    with tempfile.TemporaryDirectory() as scratch:
        reference = args.ref
        if window is not None:
            start, end = (round(t * STORE_RATE_HZ) for t in window)
            audio = AudioClip(audio.samples[start:end], STORE_RATE_HZ)
            reference = Path(scratch) / "reference.wav"
            write_wav(reference, audio)
        elif args.ref.suffix.lower() != ".wav":
            reference = Path(scratch) / "reference.wav"
            write_wav(reference, audio)
        text = args.text.strip() if args.text else await _transcribe(audio, args.language, config)
        if not text:
            raise BadInputError(f"no speech was heard in {args.ref}: use a clip of clear speech.")
        voice = Voice(
            args.name,
            "",
            text,
            args.language,
            aux_refs=[str(p) for p in args.aux],
            gpt_weights=str(Path(args.gpt_weights).resolve()) if args.gpt_weights else "",
            sovits_weights=str(Path(args.sovits_weights).resolve()) if args.sovits_weights else "",
        )
        stored = store.add(voice, reference, replace=args.replace)
    first = store.active_name() is None
    if first:
        store.use(stored.name)
    print(f"added {stored.describe()}")
    print(f"  reference: {stored.ref_audio} ({audio.duration_s:.1f} s)")
    print(
        "  in use now" if first else f"  choose it with: localvoice voice use {stored.name}",
    )
    return 0


def _choose_window(args: argparse.Namespace, audio: AudioClip) -> tuple[float, float] | None:
    """None to keep the whole clip; else the (start, end) seconds to keep."""
    seconds = audio.duration_s
    if args.window and args.window != "best":
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\s*", args.window)
        if not match:
            raise BadInputError(
                f"--window takes START-END in seconds (e.g. 2.5-9) or 'best', got {args.window!r}"
            )
        start, end = float(match[1]), min(float(match[2]), seconds)
        problem = duration_problem(end - start)
        if problem is not None:
            raise BadInputError(f"the window {args.window} cannot be the reference: {problem}.")
        return start, end
    if seconds < MIN_S:
        raise BadInputError(
            f"{args.ref} cannot be a reference: {duration_problem(seconds)}. Record a longer sentence."
        )
    if seconds <= MAX_S:
        return None
    best = best_window(audio)
    if best is None:
        raise BadInputError(
            f"{args.ref} is {seconds:.1f} s with no 3–10 s stretch between pauses: pass --window START-END."
        )
    start, end = best.start / audio.sample_rate_hz, best.end / audio.sample_rate_hz
    if args.window == "best":
        return start, end
    offer = f"{args.ref} is {seconds:.1f} s; GPT-SoVITS needs {MIN_S:g}–{MAX_S:g} s. The best window is {start:.1f}–{end:.1f} s"
    if sys.stdin.isatty():
        answer = input(f"{offer}. Use it? [Y/n] ").strip().lower()
        if answer in ("", "y", "yes"):
            return start, end
        raise BadInputError("no reference chosen: pass --window START-END.")
    raise BadInputError(f"{offer}: pass --window {start:.1f}-{end:.1f} (or --window best) to use it.")


async def _transcribe(audio: AudioClip, language: str, config: Config) -> str:
    from localvoice.audio.resample import resample
    from localvoice.session import Session
    from localvoice.voiceclone.label import asr_language

    clip = AudioClip(resample(audio.samples, audio.sample_rate_hz, 16_000), 16_000)
    async with Session(config, notify_stderr, need_asr=True, need_llm=False, need_tts=False) as session:
        assert session.asr is not None
        transcript = await session.asr.transcribe(clip, asr_language(language))
    text = transcript.text.strip()
    if text:
        print(f"transcribed: {text}   (wrong? add it again with --text '…' --replace)")
    return text


def run_list(args: argparse.Namespace, config: Config) -> int:
    store = VoiceStore.from_config(config.tts.gpt_sovits)
    names = store.names()
    if not names:
        print("no voices yet: localvoice voice add NAME --ref clip.wav")
        return 0
    active = store.active_name()
    for name in names:
        print(f"{'*' if name == active else ' '} {store.get(name).describe()}")
    return 0


def run_use(args: argparse.Namespace, config: Config) -> int:
    voice = VoiceStore.from_config(config.tts.gpt_sovits).use(args.name)
    print(f"speaking with {voice.name} from now on (through GPT-SoVITS at {config.tts.gpt_sovits.url})")
    return 0


def run_remove(args: argparse.Namespace, config: Config) -> int:
    VoiceStore.from_config(config.tts.gpt_sovits).remove(args.name)
    print(f"removed {args.name}")
    return 0


def run_show(args: argparse.Namespace, config: Config) -> int:
    store = VoiceStore.from_config(config.tts.gpt_sovits)
    voice = store.get(args.name)
    seconds = read_audio(Path(voice.ref_audio)).duration_s if Path(voice.ref_audio).is_file() else 0.0
    print(f"name:       {voice.name}{'  (in use)' if store.active_name() == voice.name else ''}")
    print(f"reference:  {voice.ref_audio} ({seconds:.1f} s)")
    print(f"transcript: {voice.prompt_text}")
    print(f"language:   {voice.prompt_lang}")
    for aux in voice.aux_refs:
        print(f"aux clip:   {aux}")
    print(f"gpt:        {voice.gpt_weights or '(the server’s loaded weights)'}")
    print(f"sovits:     {voice.sovits_weights or '(the server’s loaded weights)'}")
    return 0


CHECK_SENTENCES = {
    "zh": ("今天天气不错，我们出去走走吧。", "这个周末你有什么安排？"),
    "yue": ("今日天气几好，我哋出去行下啦。", "呢个周末你有咩安排？"),
    "en": ("The weather is lovely today, let's go for a walk.", "What are your plans for the weekend?"),
    "ja": ("今日はいい天気ですね、散歩に行きましょう。", "週末の予定は何ですか？"),
    "ko": ("오늘 날씨가 좋네요, 산책하러 가요.", "주말에 무슨 계획이 있어요?"),
}


async def run_check(args: argparse.Namespace, config: Config) -> int:
    import numpy as np

    from localvoice.backends.tts.gpt_sovits import GptSovitsTTS
    from localvoice.voiceclone.similarity import SpeakerEncoder, reading

    voice = VoiceStore.from_config(config.tts.gpt_sovits).get(args.name)
    reference = read_audio(Path(voice.ref_audio))
    encoder = SpeakerEncoder()  # the missing extra is found before the server is asked anything
    sentences = (args.text,) if args.text else CHECK_SENTENCES.get(voice.prompt_lang, CHECK_SENTENCES["zh"])
    tts = GptSovitsTTS(config.tts.gpt_sovits, voice)
    try:
        clips = [await tts.synthesize(sentence) for sentence in sentences]
    finally:
        await tts.aclose()
    spoken = AudioClip(np.concatenate([c.samples for c in clips]), clips[0].sample_rate_hz)
    if args.save:
        write_wav(args.save, spoken)
    score = encoder.similarity(reference, spoken)
    print(f"{voice.name}: similarity {score:.2f} — {reading(score)}")
    return 0
