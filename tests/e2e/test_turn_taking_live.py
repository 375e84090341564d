"""Turn-taking as a person meets it: ``localvoice chat`` with the embedded models listens to a PulseAudio
null-sink microphone while a script speaks into it (``paplay``), reacting to what the assistant does:
"2 s after its answer starts playing, say 停一下。, pause 0.7 s, say 今天天气怎么样？". The speaker is
heard through ``parec`` on the speaker sink's monitor. Judged on the transcript log (``turn_scoring``):
the user turns (joined text), which replies the user cut short, and the real question's voice-to-voice.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import platformdirs
import pytest

from localvoice.audio.wav import write_wav
from localvoice.bench.turn_microphone import ROOM_NOISE_DBFS
from localvoice.bench.turn_scenarios import BY_NAME, Scenario
from localvoice.bench.turn_scoring import HeardTurn, holds, judge
from localvoice.bench.turn_taking import STILL_PLAYING_S
from localvoice.events import AudioClip
from localvoice.transcript_log import read_log
from tests.fake_ollama import unused_local_url
from tests.pulse_null_sinks import PulseServer, pulse_null_sinks
from tests.scenario_speech import Group, scenario_speech, script_groups

pytestmark = pytest.mark.slow

# 停一下 + question is in the bench; Whisper base hears the project voice's 停 as 填 (BENCHMARKS.md), so the
# Chinese interruption here starts with 等一下.
# Issue 9's cases in both languages: an interruption with a pause, a question with a pause (one the rules
# catch, one only the LLM's end-of-turn score catches), speech straddling the reply's start, a
# backchannel and a cough over a reply.
CASES = [
    "zh_interrupt_wait_0.7s",
    "en_interrupt_pause_0.7s",
    "zh_pause_question_0.6s",
    "en_pause_question_0.6s",
    "zh_pause_unfinished_0.7s",
    "zh_straddle_0.8s",
    "en_straddle_0.8s",
    "zh_backchannel",
    "en_cough_in_reply",
]
# Issue 9 asks for ≤ 3 s. With the LLM's prefill the bench measured a median of 2.3 s and p90 3.0–3.5 s
# on 2 quiet cores (BENCHMARKS.md, 15:37 UTC): the turn reaches the LLM 1.2–2.5 s after the question ends,
# mostly waiting for Whisper. Held at 8 s here as a guard against the 9–22 s stalls the issue reported,
# not as the target; closing the gap to 3 s at p90 is the latency issue's work.
VOICE_TO_VOICE_MS = 8000.0
OBSERVE_S = 1.5  # after the answer is heard: time for a wrong extra turn to show
LISTEN_S = 5.0  # when nothing should be answered
ANSWER_TIMEOUT_S = 30.0
REPLY_TIMEOUT_S = 60.0
ATTEMPTS = 3
_RATE = 16_000
_BLOCK = 320  # 20 ms of 16-bit mono at 16 kHz
_QUIET_BLOCKS = 15  # 300 ms of silence before a sound counts as a new start


@dataclass
class Speaker:
    """What came out of the speaker sink: the times each stretch of sound began after a silence."""

    process: subprocess.Popen[bytes]
    onsets: list[float] = field(default_factory=list)

    def listen(self) -> None:
        assert self.process.stdout is not None
        quiet = _QUIET_BLOCKS
        while chunk := self.process.stdout.read(_BLOCK * 2):
            loud = int(np.abs(np.frombuffer(chunk, dtype=np.int16)).max(initial=0)) > 300
            if loud and quiet >= _QUIET_BLOCKS:
                self.onsets.append(time.monotonic())
            quiet = 0 if loud else quiet + 1

    def wait_for(self, count: int, timeout_s: float) -> float:
        deadline = time.monotonic() + timeout_s
        while len(self.onsets) < count:
            assert time.monotonic() < deadline, (
                f"the assistant never spoke (sound starts: {len(self.onsets)})"
            )
            time.sleep(0.01)
        return self.onsets[count - 1]


@pytest.fixture(scope="module")
def pulse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseServer]:
    with pulse_null_sinks(tmp_path_factory.mktemp("pulse"), rate_hz=_RATE) as server, _room_noise(server):
        yield server


@contextmanager
def _room_noise(pulse: PulseServer) -> Iterator[None]:
    """A quiet room (-60 dBFS) in the microphone all along: a real one never gives digital zeros."""
    pacat = subprocess.Popen(
        ["pacat", "-p", "-d", "mic", "--raw", "--format=s16le", f"--rate={_RATE}", "--channels=1"],
        env=pulse.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stop = threading.Event()

    def feed() -> None:
        assert pacat.stdin is not None
        rng = np.random.default_rng(0)
        amplitude = 32768 * 10 ** (ROOM_NOISE_DBFS / 20)
        with contextlib.suppress(BrokenPipeError, ValueError):
            while not stop.is_set():  # pacat takes it at playback pace, so this writes in real time
                pacat.stdin.write((rng.standard_normal(_RATE // 10) * amplitude).astype(np.int16).tobytes())

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        yield
    finally:
        stop.set()
        pacat.terminate()
        pacat.wait()
        feeder.join(timeout=5)


@pytest.fixture(scope="module")
def speech() -> dict[str, AudioClip]:
    return scenario_speech([BY_NAME[name] for name in CASES])


def _chat(pulse: PulseServer, log_dir: Path, scenario: Scenario) -> subprocess.Popen[str]:
    env = pulse.env | {
        # HOME points at the private ALSA config; models and the voice env stay where set-up put them.
        "XDG_CACHE_HOME": platformdirs.user_cache_dir(),
        "XDG_DATA_HOME": platformdirs.user_data_dir(),
        "LOCALVOICE_LOG_DIR": str(log_dir),
        "LOCALVOICE_LLM_BACKEND": "llama_cpp",  # the embedded model, as a user without Ollama has it
        "LOCALVOICE_LLM_NUM_PREDICT": "160" if scenario.long_reply else "40",
        # Null sinks carry no sound from speaker to microphone: this rig is a headset, and a fresh
        # echo canceller with no echo to learn ducks the user's words over the first reply
        # (docs/turn_taking.md). The canceller's own barge-in test: test_echo_barge_in.py.
        "LOCALVOICE_AUDIO_MODE": "headset",
        "OLLAMA_HOST": unused_local_url(),
        "PYTHONUNBUFFERED": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "localvoice.cli.main", "chat"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


class TooShortReply(Exception):
    """The reply to speak over had already ended: the scenario tests nothing; run it again."""


def _play(
    pulse: PulseServer, groups: list[Group], speaker: Speaker, folder: Path, replies_ended: Callable[[], int]
) -> tuple[float, float | None]:
    """Say each group when its trigger fires; returns when the last speech ended and when the first
    speech over a reply began (monotonic)."""
    start = time.monotonic()
    ended = start
    probe: float | None = None
    for index, group in enumerate(groups):
        if group.trigger == "start":
            due = start + group.delay_s
        else:
            due = speaker.wait_for(group.nth, REPLY_TIMEOUT_S) + group.delay_s
        time.sleep(max(0.0, due - time.monotonic()))
        if group.trigger == "reply_audio":
            if replies_ended() >= group.nth:
                raise TooShortReply
            probe = probe or time.monotonic()
        path = folder / f"group{index}.wav"
        write_wav(path, group.audio)
        began = time.monotonic()
        pulse.run("paplay", "-d", "mic", str(path), timeout_s=60)
        ended = began + group.speech_end_s
    return ended, probe


def _ended_on_its_own(output: list[str], before: float) -> bool:
    """A reply finished uninterrupted (the chat's "AI: …" line, timestamped here) before ``before``."""
    return any(
        " AI: " in line and "[interrupted]" not in line and float(line.split()[0]) < before for line in output
    )


def _run(
    pulse: PulseServer, scenario: Scenario, speech: dict[str, AudioClip], tmp_path: Path
) -> dict[str, Any]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    log_dir = tmp_path / "log"
    parec = subprocess.Popen(
        [
            "parec",
            "-d",
            "spk.monitor",
            "--raw",
            "--format=s16le",
            f"--rate={_RATE}",
            "--channels=1",
            "--latency-msec=20",
        ],
        env=pulse.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    speaker = Speaker(parec)
    threading.Thread(target=speaker.listen, daemon=True).start()
    chat = _chat(pulse, log_dir, scenario)
    output: list[str] = []
    ready = threading.Event()

    def read_output() -> None:
        assert chat.stdout is not None
        for line in chat.stdout:
            output.append(f"{time.monotonic():.2f} {line.rstrip()}")
            if "speak any time" in line:
                ready.set()

    reader = threading.Thread(target=read_output, daemon=True)
    reader.start()
    try:
        assert ready.wait(180), "chat did not start:\n" + "\n".join(output)
        time.sleep(0.5)
        groups = script_groups(scenario, speech)
        last_end, probe = _play(
            pulse, groups, speaker, tmp_path, lambda: sum(" AI: " in line for line in output)
        )
        answer_expected = bool(scenario.answered) and scenario.steps[-1].fragment in scenario.answered[-1]
        deadline = last_end + (ANSWER_TIMEOUT_S if answer_expected else LISTEN_S)
        while time.monotonic() < deadline:
            answers = [t for t in speaker.onsets if t > last_end]
            if answer_expected and answers and time.monotonic() > answers[0] + OBSERVE_S:
                break
            time.sleep(0.05)
        if probe is not None and _ended_on_its_own(output, probe + STILL_PLAYING_S):
            raise TooShortReply
        logs = list(log_dir.glob("*.jsonl"))
        finished = len(read_log(logs[0])) if logs else 0  # turns that ended before the harness stopped
        chat.send_signal(signal.SIGINT)
        chat.wait(timeout=30)
    finally:
        if chat.poll() is None:
            chat.kill()
            chat.wait()
        parec.terminate()
        parec.wait()
        reader.join(timeout=5)
    records = [r for path in log_dir.glob("*.jsonl") for r in read_log(path)]
    turns = [
        HeardTurn(
            turn=int(r["turn"]),
            user=str(r["user"]),
            answered=r["timings_ms"].get("voice_to_voice") is not None,
            cut_by_user=bool(r["interrupted"]) and i < finished,
        )
        for i, r in enumerate(records)
    ]
    heard = [t for t in speaker.onsets if t > last_end]
    # As the person heard it: their last speech end → the next sound from the speaker (paplay and
    # PulseAudio latencies included), beside the log's own voice-to-voice.
    heard_ms = round((heard[0] - last_end) * 1000.0) if heard else None
    return {"records": records, "turns": turns, "output": output, "heard_ms": heard_ms}


@pytest.mark.parametrize("name", CASES)
def test_turn_taking_scenario(
    name: str, pulse: PulseServer, speech: dict[str, AudioClip], tmp_path: Path
) -> None:
    scenario = BY_NAME[name]
    started = time.monotonic()
    for attempt in range(1, ATTEMPTS + 1):
        try:
            run = _run(pulse, scenario, speech, tmp_path / str(attempt))
            break
        except TooShortReply:  # e.g. "我查不到。" instead of a story
            assert attempt < ATTEMPTS, (
                f"{name}: the first reply was too short to speak over, {ATTEMPTS} times"
            )
    report = "\n".join(run["output"]) + "\nlog:\n" + "\n".join(str(r) for r in run["records"])
    print(
        f"{name}: {time.monotonic() - started:.1f} s, next sound from the speaker {run['heard_ms']} ms after the last speech\n{report}"
    )
    assert "Traceback" not in report
    verdict = judge(scenario, run["turns"])
    assert verdict.ok, f"{name}: {verdict.problems}\n{report}"
    if scenario.answered:
        question = scenario.answered[-1]
        answers = [
            r["timings_ms"]["voice_to_voice"]
            for r in run["records"]
            if all(holds(r["user"], f) for f in question)
        ]
        voice_to_voice = next((ms for ms in answers if ms is not None), None)
        assert voice_to_voice is not None, f"{name}: the question was never answered aloud\n{report}"
        assert voice_to_voice <= VOICE_TO_VOICE_MS, (
            f"{name}: voice-to-voice {voice_to_voice:.0f} ms\n{report}"
        )
