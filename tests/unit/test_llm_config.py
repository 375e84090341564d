"""[llm] settings: standard environment resolved in config loading, the new keys, the LLM's own section."""

from __future__ import annotations

from pathlib import Path

from localvoice.backends.llm.http_chat import HttpTimeouts
from localvoice.backends.llm.sampling import Sampling
from localvoice.config import Config, load_config, to_toml


def _load(tmp_path: Path, toml: str = "", env: dict[str, str] | None = None, *sets: str) -> Config:
    path = tmp_path / "config.toml"
    path.write_text(toml, encoding="utf-8")
    return load_config(path, overrides=sets, environ=env or {})


def test_openai_api_key_is_the_default_below_anything_set_explicitly(tmp_path: Path) -> None:
    env = {"OPENAI_API_KEY": "sk-env"}
    assert _load(tmp_path, env=env).llm.api_key == "sk-env"
    assert _load(tmp_path, '[llm]\napi_key = "sk-file"\n', env).llm.api_key == "sk-file"
    env_and_ours = {**env, "LOCALVOICE_LLM_API_KEY": "sk-ours"}
    assert _load(tmp_path, env=env_and_ours).llm.api_key == "sk-ours"
    assert _load(tmp_path, "", env, "llm.api_key=sk-set").llm.api_key == "sk-set"
    assert _load(tmp_path).llm.api_key == ""


def test_the_key_from_the_environment_is_masked_in_config_show(tmp_path: Path) -> None:
    shown = to_toml(_load(tmp_path, env={"OPENAI_API_KEY": "sk-secret"}))
    assert "sk-secret" not in shown and 'api_key = "***"' in shown


def test_stall_and_time_settings_are_config_keys(tmp_path: Path) -> None:
    config = _load(
        tmp_path,
        "",
        None,
        "llm.stall_timeout_s=12",
        "llm.first_token_notice_s=2.5",
        "llm.tell_time=false",
        "llm.timezone=Europe/Paris",
    )
    assert HttpTimeouts.from_config(config.llm) == HttpTimeouts(
        connect_s=3.0, read_s=60.0, first_token_notice_s=2.5, stall_s=12.0
    )
    assert config.llm.tell_time is False and config.llm.timezone == "Europe/Paris"
    defaults = _load(tmp_path).llm
    assert (defaults.stall_timeout_s, defaults.first_token_notice_s, defaults.tell_time) == (30.0, 4.0, True)


def test_sampling_comes_from_the_llm_section(tmp_path: Path) -> None:
    config = _load(tmp_path, '[llm]\ntemperature = 0.2\nnum_predict = -1\nstop = ["用户："]\n')
    sampling = Sampling.from_config(config.llm)
    assert sampling == Sampling(temperature=0.2, num_predict=-1, stop=("用户：",))
    assert sampling.reserve_tokens == 512  # unlimited replies still leave room when trimming
    assert sampling.openai_fields() == {"temperature": 0.2, "top_p": 0.9, "stop": ["用户："]}
    assert sampling.ollama_options()["num_predict"] == -1
