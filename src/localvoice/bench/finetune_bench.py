"""``python -m localvoice.bench.finetune_bench``: LoRA on the packaged 0.5B for the example data, measured.

It runs ``localvoice finetune`` as a child process on ``examples/learning_platform_qa.jsonl`` with the
packaged Qwen2.5-Coder-0.5B as the base (steps/s, wall time, and the peak RSS of that process tree from
``getrusage(RUSAGE_CHILDREN)``), then asks 10 questions in llama.cpp, greedily, of the base GGUF and of
what the run wrote: the merged model at Q4_K_M and at Q8_0, and the base with ``adapter.gguf`` applied.

The 10 questions are paraphrases written for this bench, not rows of the data: each asks for a
platform-specific fact (a price, a phone number, a deadline) that one *training* row states in other
words, and each is checked before the run to come from the training split. A hit is an answer that
contains every fact (spaces ignored); the base cannot know them. Two more questions ask for facts of
the held-out rows, which no model saw: a control for guessing.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localvoice.bench.machine import machine_info
from localvoice.errors import BadInputError
from localvoice.persona.dataset import load_dataset

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / "examples" / "learning_platform_qa.jsonl"
BASE = "qwen2.5-coder-0.5b"


@dataclass(frozen=True, slots=True)
class Probe:
    question: str  # asked of the models
    source: str  # the data row's question that states the fact
    facts: tuple[tuple[str, ...], ...]  # every group must match; any spelling in a group counts


PROBES = (
    Probe(
        "退款的钱几天能回到我的账户？",
        "退款多久能到账？",
        (("3到5个工作日", "3-5个工作日", "三到五个工作日"),),
    ),
    Probe(
        "人工客服每天几点上班、几点下班？",
        "客服工作时间是几点到几点？",
        (("9点", "9:00", "九点"), ("晚上9点", "21点", "21:00")),
    ),
    Probe("开通一年会员要花多少钱？", "会员有什么权益？", (("398",),)),
    Probe("你们的客服热线号码是多少？", "客服电话是多少？", (("400-820-1234", "4008201234"),)),
    Probe("我是学生，买课能打几折？", "有没有学生优惠？", (("8折", "八折", "80%"),)),
    Probe("录播课买了以后能看多长时间？", "课程有效期是多久？", (("3年", "三年"),)),
    Probe("想拿结业证书需要满足什么条件？", "完成课程有证书吗？", (("80%",), ("60分",))),
    Probe("交了作业以后多长时间会有人批改？", "作业多久批改？", (("48小时", "两天"),)),
    Probe("直播结束后要等多久才能看回放？", "直播课错过了可以看回放吗？", (("2小时", "两小时", "两个小时"),)),
    Probe("结课考试一共能考几回？", "结课考试可以考几次？", (("3次", "三次"),)),
)
CONTROLS = (  # facts of held-out rows: no model was trained on them
    Probe("公司团购课程有什么折扣？", "企业可以批量购买吗？", (("7折", "七折"),)),
    Probe("一个账号最多能在几台设备上同时登录？", "一个账号能在几台设备上登录？", (("3台", "三台"),)),
)


def hit(answer: str, probe: Probe) -> bool:
    flat = re.sub(r"\s+", "", answer)
    return all(any(spelling in flat for spelling in group) for group in probe.facts)


def check_probes(eval_fraction: float, seed: int) -> None:
    dataset = load_dataset(DATA, eval_fraction=eval_fraction, seed=seed)
    trained = {e.turns()[0]["content"] for e in dataset.train}
    held = {e.turns()[0]["content"] for e in dataset.eval}
    for probe in PROBES:
        if probe.source not in trained:
            raise BadInputError(f"bench question {probe.question!r}: its row is not in the training split")
    for probe in CONTROLS:
        if probe.source not in held:
            raise BadInputError(f"control {probe.question!r}: its row is not held out")


def finetune(out: Path, args: argparse.Namespace) -> dict[str, Any]:
    """``localvoice finetune`` in a child process: its report, wall time and peak RSS."""
    command = [
        sys.executable,
        "-c",
        "import sys; from localvoice.cli.main import main; sys.exit(main(sys.argv[1:]))",
        "finetune", str(DATA), "--base", f"packaged:{BASE}", "--out", str(out),
        "--epochs", str(args.epochs), "--lr", str(args.lr), "--lora-r", str(args.lora_r),
        "--quant", "q4_k_m", "--seed", str(args.seed),
    ]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"finetune failed (exit {done.returncode})")
    report = done.stdout
    trained = re.search(r"trained (\d+) steps in ([\d.]+) s", report)
    loss = re.search(r"held-out loss ([\d.]+) → ([\d.]+)", report)
    if trained is None or loss is None:
        raise SystemExit(f"finetune's report has no step count or loss:\n{report}")
    steps, train_s = int(trained[1]), float(trained[2])
    return {
        "steps": steps,
        "train_seconds": train_s,
        "steps_per_second": steps / train_s,
        "wall_seconds": wall,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "held_out_loss": [float(loss[1]), float(loss[2])],
        "report": report,
    }


def ask_all(model: Path, lora: Path | None, probes: tuple[Probe, ...]) -> list[str]:
    import llama_cpp

    lora_path = str(lora) if lora else None
    llm = llama_cpp.Llama(str(model), n_ctx=1024, n_threads=2, verbose=False, lora_path=lora_path)
    answers = []
    for probe in probes:
        reply: Any = llm.create_chat_completion(
            [{"role": "user", "content": probe.question}], temperature=0.0, max_tokens=80, seed=0
        )
        answers.append(str(reply["choices"][0]["message"]["content"]).strip())
    llm.close()
    return answers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localvoice.bench.finetune_bench", description=__doc__)
    parser.add_argument(
        "--out", type=Path, default=Path("bench/results/finetune-0.5b"), help="tuned model DIR"
    )
    parser.add_argument("--epochs", type=float, default=8.0)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-train", action="store_true", help="reuse a finished run in --out")
    args = parser.parse_args(argv)
    check_probes(0.1, args.seed)  # finetune's default split
    from localvoice.models.packaged import ensure_model
    from localvoice.persona.export import convert

    base = ensure_model(BASE)
    machine = machine_info()
    run = {} if args.skip_train else finetune(args.out, args)
    q8 = args.out / "model-q8_0.gguf"
    if not q8.is_file():
        convert(args.out / "merged", q8, "q8_0")
    columns = {
        "base Q4_K_M": (base, None),
        "tuned Q4_K_M": (args.out / "model.gguf", None),
        "tuned Q8_0": (q8, None),
        "base Q4_K_M + adapter.gguf": (base, args.out / "adapter.gguf"),
    }
    probes = PROBES + CONTROLS
    answers = {name: ask_all(model, lora, probes) for name, (model, lora) in columns.items()}
    sizes = {name: model.stat().st_size / 2**20 for name, (model, _) in columns.items()}
    machine["load_average_after"] = machine_info()["load_average_1_5_15"]
    result = {"machine": machine, "settings": vars(args) | {"out": str(args.out)}, "run": run}
    result["columns"] = {
        name: {
            "file_mib": round(sizes[name], 1),
            "hits": sum(hit(a, p) for a, p in zip(answers[name], PROBES, strict=False)),
            "control_hits": sum(
                hit(a, p) for a, p in zip(answers[name][len(PROBES) :], CONTROLS, strict=True)
            ),
            "answers": answers[name],
        }
        for name in columns
    }
    (args.out / "bench.json").write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    print(markdown(result, probes))
    return 0


def markdown(result: dict[str, Any], probes: tuple[Probe, ...]) -> str:
    machine, run, columns = result["machine"], result["run"], result["columns"]
    lines = [
        f"{machine['cpu_model']}, {machine['cpu_count']} cores; load {machine['load_average_1_5_15']} before, "
        f"{machine['load_average_after']} after; {machine['taken_at']}",
        "",
    ]
    if run:
        lines += [
            "| LoRA run | value |",
            "|---|---|",
            f"| steps | {run['steps']} |",
            f"| steps/s | {run['steps_per_second']:.3f} ({run['train_seconds'] / run['steps']:.2f} s a step) |",
            f"| training time | {run['train_seconds']:.0f} s |",
            f"| wall time (load, eval, train, answers, merge, GGUF) | {run['wall_seconds']:.0f} s |",
            f"| peak RSS | {run['peak_rss_mib']:.0f} MiB |",
            f"| held-out loss | {run['held_out_loss'][0]:.3f} → {run['held_out_loss'][1]:.3f} |",
            "",
        ]
    names = list(columns)
    lines += ["| model | file | fact hits (of 10) | control hits (of 2, unseen facts) |", "|---|---|---|---|"]
    lines += [
        f"| {n} | {columns[n]['file_mib']:.0f} MiB | {columns[n]['hits']} | {columns[n]['control_hits']} |"
        for n in names
    ]
    lines += ["", "| question | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for index, probe in enumerate(probes):
        cells = []
        for name in names:
            text = columns[name]["answers"][index].replace("\n", " ").replace("|", "/")
            cells.append(("✅ " if hit(text, probe) else "❌ ") + text[:60])
        lines.append(f"| {probe.question} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
