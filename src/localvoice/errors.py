"""Errors a user can act on. The CLI prints their message on one line, never a traceback."""

from __future__ import annotations


class LocalVoiceError(Exception):
    """Base class: ``str(error)`` is a complete sentence that says what to do."""

    exit_code = 1


class BadInputError(LocalVoiceError):
    """The user handed us something unusable (a broken WAV, a bad option, a malformed line)."""

    exit_code = 2


class ConfigError(BadInputError):
    """A config file, environment variable or --set value is wrong."""


class MissingExtraError(LocalVoiceError):
    """A backend needs an optional dependency that is not installed."""


class BackendUnavailableError(LocalVoiceError):
    """A server (Ollama, GPT-SoVITS) is not running or not reachable."""


class ModelNotFoundError(LocalVoiceError):
    """The backend runs but does not have the requested model."""


class BackendError(LocalVoiceError):
    """A backend failed while working: an error line mid-stream, garbage, a timeout."""


class ModelIntegrityError(LocalVoiceError):
    """A packaged model file is missing, truncated or does not match its pinned hash."""


class AudioDeviceError(LocalVoiceError):
    """A microphone or speaker is missing, busy or refuses the format."""
