"""Load: eight voice sessions at once, each speaking a different bench question into the real server.

Each must get its own answer (its transcript is its own question, not a neighbour's, and its log line
names its own session), none may be dropped, and ``/v1/models`` must keep answering meanwhile.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from localvoice.bench.questions import load_questions
from localvoice.bench.server_bench import run_sessions, similarity
from localvoice.server.voice_client import TurnResult
from localvoice.transcript_log import read_log
from tests.server_fixtures import RunningServer, running_server, server_config

pytestmark = pytest.mark.slow
SESSIONS = 8


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    config = server_config(tmp_path_factory.mktemp("load-logs"))
    config.llm.model = "qwen2.5-coder-0.5b"
    config.llm.num_predict = 24  # a sentence or two each: the test is about eight at once, not length
    config.server.max_sessions = SESSIONS
    with running_server(config) as running:
        yield running


async def test_eight_concurrent_sessions_each_get_their_own_answer(
    server: RunningServer, tmp_path: Path
) -> None:
    questions = load_questions()[:SESSIONS]
    assert len({q.text for q in questions}) == SESSIONS
    run = await run_sessions(server.url, questions)

    failures = [r for r in run.results if isinstance(r, BaseException)]
    assert not failures, failures  # none dropped
    results = [r for r in run.results if isinstance(r, TurnResult)]
    report = "\n".join(
        f"{q.text} → heard {r.transcript!r}, first audio {r.first_audio_ms} ms, reply {r.written!r}"
        for q, r in zip(questions, results, strict=True)
    )
    print(f"{SESSIONS} sessions in {run.wall_s:.1f} s\n{report}")
    for index, (question, result) in enumerate(zip(questions, results, strict=True)):
        own = similarity(result.transcript, question.text)
        others = [similarity(result.transcript, q.text) for j, q in enumerate(questions) if j != index]
        assert own >= 0.6 and own > max(others), report  # its own question, nobody else's
        assert result.written and result.error is None, report
        assert result.audio_bytes > 0 and result.first_audio_ms is not None, report

    records = [r for path in server.state.log_dir.glob("*.jsonl") for r in read_log(path)]
    assert len({r["session"] for r in records}) == SESSIONS
    for result in results:
        mine = [r for r in records if r["user"] == result.transcript]
        assert len(mine) == 1 and mine[0]["assistant"] == result.heard

    # The HTTP API stayed responsive while eight sessions talked (polled every 0.5 s throughout).
    assert run.poll_failures == 0
    assert len(run.poll_ms) >= 10
    assert statistics.median(run.poll_ms) < 500 and max(run.poll_ms) < 3000, run.poll_ms
    deadline = time.monotonic() + 10
    while server.state.voice_slots.in_use and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert server.state.voice_slots.in_use == 0  # every slot given back
