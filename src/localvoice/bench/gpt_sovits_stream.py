"""GPT-SoVITS: time from a clause being ready to its first audio, streaming vs whole clip, side by side.

The server is the protocol-faithful fake (``localvoice.bench.fake_gpt_sovits``) with a scripted
synthesis speed: its first chunk ``FIRST_CHUNK_S`` after the request, then audio at ``SERVER_RTF`` of
real time. Both paths go through the real client (``GptSovitsTTS``: HTTP, the streamed-WAV parser);
``streaming_mode`` 3 plays the first chunk as it lands, ``streaming_mode`` 0 waits for the whole clip.
What differs between the columns is the client's choice, so the gap is what streaming buys on any
server with this first-chunk delay and speed; the absolute numbers are the script's, not a GPU's.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from localvoice.audio.wav import write_wav
from localvoice.backends.tts.gpt_sovits import GptSovitsTTS
from localvoice.bench.fake_gpt_sovits import FakeGptSovits
from localvoice.bench.result import ScenarioResult
from localvoice.config import Config, GptSovitsConfig
from localvoice.events import AudioClip
from localvoice.voiceclone.voices import Voice, VoiceStore

CLAUSES = (
    "好的，我来帮你查一下。",
    "明天北京晴，最高气温二十五度。",
    "适合出去走走，记得带水。",
    "如果下午有风，可以带件外套。",
    "Have a nice walk tomorrow.",
)
FIRST_CHUNK_S = 0.3  # scripted: request → first chunk
SERVER_RTF = 0.5  # scripted: the server makes audio at twice real time
SECONDS_PER_CHAR = 0.2  # speaking pace of the fake voice
PIECE_BYTES = (6401, 6399)  # ~100 ms of 32 kHz audio a piece, odd sizes


async def run_gpt_sovits_stream(config: Config, runs: int) -> ScenarioResult:
    result = ScenarioResult("gpt_sovits", "GPT-SoVITS: clause ready → first audio, streaming vs whole clip")
    streaming: list[float] = []
    whole: list[float] = []
    streaming_total: list[float] = []
    with tempfile.TemporaryDirectory() as scratch, FakeGptSovits() as server:
        server.first_chunk_delay_s = FIRST_CHUNK_S
        server.chunk_delay_s = SERVER_RTF * (PIECE_BYTES[0] / 2) / server.sample_rate_hz
        server.piece_bytes = PIECE_BYTES
        server.seconds_per_char = SECONDS_PER_CHAR
        voice = _voice(Path(scratch))
        for mode, firsts, totals in ((3, streaming, streaming_total), (0, whole, None)):
            section = GptSovitsConfig(url=server.url, streaming_mode=mode, voices_dir=str(Path(scratch)))
            tts = GptSovitsTTS(section, voice)
            try:
                await tts.synthesize("你好。")  # warm the connection pool: not part of the numbers
                for _ in range(runs):
                    for clause in CLAUSES:
                        first, total = await _time_clause(tts, clause)
                        firsts.append(first)
                        if totals is not None:
                            totals.append(total)
                        result.details.append(
                            {"mode": mode, "clause": clause, "first_audio_ms": first, "total_ms": total}
                        )
            finally:
                await tts.aclose()
    result.add("streaming_first_audio_ms", streaming, "streaming_mode 3: clause ready → first audio")
    result.add("whole_clip_first_audio_ms", whole, "streaming_mode 0: clause ready → first audio")
    result.add("streaming_last_audio_ms", streaming_total, "streaming_mode 3: clause ready → last chunk")
    if streaming and whole:
        result.headline["first_audio_saved_ms"] = round(float(np.median(whole) - np.median(streaming)), 1)
    result.headline["scripted_first_chunk_ms"] = FIRST_CHUNK_S * 1000
    result.headline["scripted_server_rtf"] = SERVER_RTF
    result.notes.append(
        "fake api_v2 server over real HTTP on 127.0.0.1 with a scripted speed; the real client and parser"
    )
    return result


async def _time_clause(tts: GptSovitsTTS, clause: str) -> tuple[float, float]:
    start = time.perf_counter()
    first: float | None = None
    async for _chunk in tts.stream_synthesize(clause):
        if first is None:
            first = time.perf_counter()
    end = time.perf_counter()
    return round(((first or end) - start) * 1000, 1), round((end - start) * 1000, 1)


def _voice(folder: Path) -> Voice:
    reference = folder / "reference.wav"
    t = np.arange(5 * 32_000) / 32_000  # 5 s: the fake checks only the length, as the real one does
    write_wav(reference, AudioClip((3000 * np.sin(2 * np.pi * 180 * t)).astype(np.int16), 32_000))
    return VoiceStore(folder / "voices").add(Voice("bench", "", "你好，这是参考音频。"), reference)
