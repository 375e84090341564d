"""Keep alsa-lib's own stderr messages ("underrun occurred") off a full-screen terminal UI.

PortAudio recovers from underruns by itself; alsa-lib still prints each one to stderr, which tears
the live panel apart. Installing a no-op error handler is alsa-lib's documented way to opt out.
"""

from __future__ import annotations

import ctypes
import ctypes.util

# snd_lib_error_handler_t: void (*)(const char *file, int line, const char *function, int err, const char *fmt, ...)
_HANDLER = ctypes.CFUNCTYPE(
    None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p
)


def _ignore(file: bytes | None, line: int, function: bytes | None, err: int, fmt: bytes | None) -> None:
    return None


_quiet_handler = _HANDLER(_ignore)  # kept alive for as long as alsa-lib may call it


def silence_alsa_messages() -> bool:
    """True when alsa-lib was found and told to stay quiet."""
    name = ctypes.util.find_library("asound")
    if name is None:
        return False
    try:
        library = ctypes.CDLL(name)
        library.snd_lib_error_set_handler(_quiet_handler)
    except (OSError, AttributeError):
        return False
    return True
