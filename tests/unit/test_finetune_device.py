"""The one device/dtype choice of fine-tuning: CUDA (bf16 where the GPU has it) when torch sees a GPU."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")  # the finetune extra; make's install has it


@pytest.mark.parametrize(
    ("cuda", "bf16", "expected"),
    [
        (False, False, ("cpu", torch.float32)),
        (True, True, ("cuda", torch.bfloat16)),
        (True, False, ("cuda", torch.float32)),  # e.g. a pre-Ampere GPU: float32, not a failing bf16
    ],
)
def test_pick_device(
    monkeypatch: pytest.MonkeyPatch, cuda: bool, bf16: bool, expected: tuple[str, object]
) -> None:
    from localvoice.persona.finetune import pick_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    assert pick_device() == expected


def test_the_run_loads_the_base_on_the_picked_device(monkeypatch: pytest.MonkeyPatch) -> None:
    """run() takes its device and dtype from pick_device(), nowhere else."""
    from localvoice.errors import BadInputError
    from localvoice.persona import finetune
    from localvoice.persona.dataset import Dataset

    seen: list[tuple[str, object]] = []

    def fake_load(base: str, device: str, dtype: object) -> None:
        seen.append((device, dtype))
        raise BadInputError("stop here")

    monkeypatch.setattr(finetune, "pick_device", lambda: ("cuda", torch.bfloat16))
    monkeypatch.setattr(finetune, "load_base", fake_load)
    with pytest.raises(BadInputError):
        finetune.run("x", Dataset([], [], 0), Path("/nonexistent"), finetune.TrainSettings(), print)
    assert seen == [("cuda", torch.bfloat16)]
