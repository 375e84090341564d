"""``localvoice voice prepare``: a folder GPT-SoVITS's training starts from, out of plain recordings."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from localvoice.cli.output import notify_stderr
from localvoice.cli.parser import examples
from localvoice.config import Config
from localvoice.voiceclone.label import LIST_LANGUAGES
from localvoice.voiceclone.slicer import SlicerSettings
from localvoice.voiceclone.voices import Voice, VoiceStore, check_name

_DEFAULTS = SlicerSettings()


def add_prepare_parser(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    prepare = actions.add_parser(
        "prepare",
        help="turn recordings into GPT-SoVITS training data (clips, a .list file, a reference)",
        description="Loudness-normalise the recordings (optionally denoise), slice them at pauses as "
        "GPT-SoVITS's slicer does (32 kHz mono clips), transcribe each clip, and write OUT/wavs/, "
        "OUT/SPEAKER.list (path|speaker|LANG|text) and the best 3–10 s reference (reference.wav, "
        "reference.txt). Vocal isolation is off: no separation model ships in any package registry, "
        "so record without music, or run UVR5 in GPT-SoVITS's web UI first. "
        "Needs: pip install 'localvoice[voiceclone]'.",
        epilog=examples(
            "localvoice voice prepare me_*.wav --speaker me --out data/me",
            "localvoice voice prepare talk.flac --speaker me --out data/me --denoise --add-voice",
        ),
    )
    prepare.add_argument("recordings", nargs="+", type=Path, metavar="RECORDING", help="any audio files")
    prepare.add_argument("--speaker", required=True, help="the speaker's name (also the voice's name)")
    prepare.add_argument("--out", type=Path, required=True, help="the folder to write (created if needed)")
    prepare.add_argument("--language", default="zh", choices=list(LIST_LANGUAGES), help="what is spoken")
    prepare.add_argument("--denoise", action="store_true", help="reduce steady background noise first")
    prepare.add_argument("--add-voice", action="store_true", help="also add the reference as a voice")
    slicing = prepare.add_argument_group("slicing (GPT-SoVITS web UI defaults)")
    slicing.add_argument("--threshold", type=float, default=_DEFAULTS.threshold_db, help="silence below, dB")
    slicing.add_argument("--min-length", type=int, default=_DEFAULTS.min_length_ms, help="shortest clip, ms")
    slicing.add_argument(
        "--min-interval", type=int, default=_DEFAULTS.min_interval_ms, help="shortest pause that cuts, ms"
    )
    slicing.add_argument("--hop-size", type=int, default=_DEFAULTS.hop_size_ms, help="RMS hop, ms")
    slicing.add_argument(
        "--max-sil-kept", type=int, default=_DEFAULTS.max_sil_kept_ms, help="silence kept at a cut, ms"
    )
    prepare.set_defaults(func=run_prepare)


async def run_prepare(args: argparse.Namespace, config: Config) -> int:
    from localvoice.session import Session
    from localvoice.voiceclone.prepare import PrepareOptions, load_recordings, prepare

    check_name(args.speaker)
    slicer = SlicerSettings(
        args.threshold, args.min_length, args.min_interval, args.hop_size, args.max_sil_kept
    )
    options = PrepareOptions(args.speaker, args.out, args.language, args.denoise, slicer)
    loaded = load_recordings(args.recordings, options)
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
    )
    task = bar.add_task("labelling clips", total=None)

    def progress(stage: str, done: int, total: int) -> None:
        bar.start()  # on the first clip, so nothing is drawn when the input is refused
        bar.update(task, completed=done, total=total)

    try:
        async with Session(config, notify_stderr, need_asr=True, need_llm=False, need_tts=False) as session:
            assert session.asr is not None
            result = await prepare(loaded, options, session.asr, progress)
    finally:
        bar.stop()
    print(f"clips:     {len(result.clips)} ({result.seconds / 60:.1f} min of speech) in {args.out / 'wavs'}")
    print(f"labels:    {result.list_path}")
    for reason, count in sorted(result.rejected.items()):
        print(f"rejected:  {count} clip(s): {reason}")
    if result.reference_path is None:
        print("reference: none: no clip is 3–10 s long; record complete sentences with pauses between them")
    else:
        seconds = result.reference.seconds(32_000) if result.reference else 0.0
        print(f"reference: {result.reference_path} ({seconds:.1f} s): {result.reference_text}")
    if result.seconds < 60:
        print("note:      under a minute of speech: zero-shot works; for training, a few minutes is better")
    if args.add_voice and result.reference_path is not None:
        store = VoiceStore.from_config(config.tts.gpt_sovits)
        voice = Voice(args.speaker, "", result.reference_text, args.language)
        stored = store.add(voice, result.reference_path, replace=True)
        if store.active_name() is None:
            store.use(stored.name)
        print(f"voice:     added {stored.describe()}")
    print(
        "next:      train in GPT-SoVITS's web UI with this .list and wavs folder, then\n"
        f"           localvoice voice add {args.speaker} --ref {args.out / 'reference.wav'} "
        f'--text "$(cat {args.out / "reference.txt"})" --gpt-weights …ckpt --sovits-weights …pth --replace'
    )
    return 0
