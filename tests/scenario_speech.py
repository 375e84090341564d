"""The turn-taking scenarios' speech for players outside the assistant's process (``paplay`` into a
PulseAudio microphone): the fragments made once by the project's own voices and cached, and a
scenario's script cut into groups, each one WAV to play when its trigger fires."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np

from localvoice.assemble import build_tts
from localvoice.bench.turn_microphone import trimmed
from localvoice.bench.turn_scenarios import Scenario, TriggerKind, cached_audio, fragment_audio, fragments_of
from localvoice.config import Config
from localvoice.events import INPUT_RATE_HZ, AudioClip

LEAD_S = 0.1  # before the first fragment of a group: the stream settles before the speech
TAIL_S = 0.3


@dataclass(frozen=True)
class Group:
    """Fragments said one after the other with their pauses, started by one trigger."""

    trigger: TriggerKind  # "start" or "reply_audio"
    delay_s: float
    nth: int
    fragments: tuple[str, ...]
    audio: AudioClip
    speech_end_s: float  # where the last fragment's speech ends within ``audio``


def scenario_speech(scenarios: list[Scenario]) -> dict[str, AudioClip]:
    """Every fragment the scenarios say, from the cache, synthesizing the missing ones first."""
    names = fragments_of(scenarios)
    clips = cached_audio(names)
    if clips is not None:
        return clips

    async def make() -> dict[str, AudioClip]:
        tts = build_tts(Config(), lambda message: None)
        await tts.warm_up()
        try:
            return await fragment_audio(names, tts)
        finally:
            await tts.aclose()

    return asyncio.run(make())


def script_groups(scenario: Scenario, clips: dict[str, AudioClip]) -> list[Group]:
    """Cut the script where a step waits for the assistant; fixed pauses stay inside one WAV."""
    groups: list[Group] = []
    parts: list[np.ndarray] = []
    head = scenario.steps[0]
    names: list[str] = []
    end_in_group = 0.0
    length = 0

    def close() -> None:
        samples = np.concatenate([*parts, np.zeros(round(TAIL_S * INPUT_RATE_HZ), dtype=np.int16)])
        audio = AudioClip(samples.astype(np.int16), INPUT_RATE_HZ)
        groups.append(Group(head.trigger, head.delay_s, head.nth, tuple(names), audio, end_in_group))

    for step in scenario.steps:
        samples, onset, end = trimmed(clips[step.fragment])
        if step.trigger == "thinking":
            raise ValueError(f"{scenario.name}: a 'thinking' trigger cannot be seen from outside the process")
        if step.trigger == "after_previous" and parts:
            gap = step.delay_s - (length / INPUT_RATE_HZ - end_in_group) - onset
            parts.append(np.zeros(max(0, round(gap * INPUT_RATE_HZ)), dtype=np.int16))
        else:
            if parts:
                close()
            head, parts, names = step, [np.zeros(round(LEAD_S * INPUT_RATE_HZ), dtype=np.int16)], []
        length = sum(len(p) for p in parts)
        parts.append(samples)
        names.append(step.fragment)
        end_in_group = (length + round(end * INPUT_RATE_HZ)) / INPUT_RATE_HZ
        length += len(samples)
    close()
    return groups
