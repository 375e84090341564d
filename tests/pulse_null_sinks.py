"""A private PulseAudio with two null sinks, for audio tests that must run in real time.

Null sinks are paced by PulseAudio's own clock (unlike ALSA's ``null`` plugin), so playback and
capture take as long as the audio lasts. ``mic`` is the microphone: ``paplay -d mic q.wav`` speaks
into it and the default source ``mic.monitor`` hears it. ``spk`` is the default speaker; ``parec -d
spk.monitor`` hears what was played. PortAudio reaches it through ALSA's pulse plugin
(``pcm.!default { type pulse }`` in a private ``~/.asoundrc``), so device code runs in a subprocess
with ``server.env`` (see ``tests.alsa_file_device.run_scenario``).

Needs Debian ``pulseaudio pulseaudio-utils libasound2-plugins``; without them the tests skip.
"""

from __future__ import annotations

import glob
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.alsa_file_device import clean_env

_ITS_PA = """\
load-module module-null-sink sink_name=mic rate={rate_hz}
load-module module-null-sink sink_name=spk rate={rate_hz}
set-default-source mic.monitor
set-default-sink spk
load-module module-native-protocol-unix auth-anonymous=1 socket={socket}
"""
_ASOUNDRC = "pcm.!default { type pulse }\nctl.!default { type pulse }\n"
_IDLE_BLOCK_S = 2.1  # module-null-sink renders this much at a time while nothing plays
_PULSE_ALSA_PLUGIN = "/usr/lib/*/alsa-lib/libasound_module_pcm_pulse.so"


@dataclass(frozen=True)
class PulseServer:
    socket: Path
    env: dict[str, str] = field(repr=False)  # PULSE_SERVER, XDG_RUNTIME_DIR and HOME point here

    def run(self, *command: str, timeout_s: float = 30.0) -> subprocess.CompletedProcess[bytes]:
        """Run a Pulse client (paplay, parec, pactl) against this server."""
        return subprocess.run(command, env=self.env, capture_output=True, timeout=timeout_s, check=True)

    def popen(self, *command: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def missing_tools() -> str | None:
    tools = [tool for tool in ("pulseaudio", "paplay", "parec", "pactl") if shutil.which(tool) is None]
    if tools:
        return f"{', '.join(tools)} not installed (apt-get install pulseaudio pulseaudio-utils)"
    if not glob.glob(_PULSE_ALSA_PLUGIN):
        return "ALSA's pulse plugin is not installed (apt-get install libasound2-plugins)"
    return None


@contextmanager
def pulse_null_sinks(
    root: Path, rate_hz: int = 48_000, start_timeout_s: float = 10.0
) -> Iterator[PulseServer]:
    """Start PulseAudio in ``root`` (skipping the test if it cannot), yield it, stop it.

    Starting takes about 2 s (see below): share one server across a module's tests.
    """
    reason = missing_tools()
    if reason:
        pytest.skip(reason)
    runtime, home = root / "runtime", root / "home"
    runtime.mkdir(parents=True, exist_ok=True)
    home.mkdir(parents=True, exist_ok=True)
    (home / ".asoundrc").write_text(_ASOUNDRC)
    socket = runtime / "native"
    script = root / "its.pa"
    script.write_text(_ITS_PA.format(rate_hz=rate_hz, socket=socket))
    env = clean_env(home) | {"XDG_RUNTIME_DIR": str(runtime), "PULSE_SERVER": f"unix:{socket}"}
    log = (root / "pulseaudio.log").open("wb")
    daemon = subprocess.Popen(
        ["pulseaudio", "-n", "-F", str(script), "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = PulseServer(socket, env)
    keepalive: list[subprocess.Popen[bytes]] = []
    try:
        _wait_ready(server, daemon, start_timeout_s, root / "pulseaudio.log")
        # An idle null sink renders in 2 s blocks and only notices a new stream when the block ends,
        # so the first stream would stall for up to 2 s. Silent low-latency streams keep both sinks
        # rendering in 10 ms steps; after one idle block has run out, new streams start at once.
        for sink in ("mic", "spk"):
            keepalive.append(
                server.popen("pacat", "-p", "-d", sink, "--latency-msec=10", "--raw", "/dev/zero")
            )
        time.sleep(_IDLE_BLOCK_S)
        yield server
    finally:
        for process in keepalive:
            process.terminate()
            process.wait()
        daemon.terminate()
        try:
            daemon.wait(timeout=5)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()


def _wait_ready(server: PulseServer, daemon: subprocess.Popen[bytes], timeout_s: float, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            pytest.skip(f"pulseaudio exited at start: {log.read_text(errors='replace')[-500:]}")
        if server.socket.exists():
            try:
                server.run("pactl", "info", timeout_s=5)
                return
            except subprocess.CalledProcessError:
                pass
        time.sleep(0.05)
    pytest.skip(f"pulseaudio did not answer within {timeout_s} s: {log.read_text(errors='replace')[-500:]}")
