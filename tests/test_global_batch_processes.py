"""The global batch makes a fine-tune independent of the number of processes it trains in.

The pipeline's SFT step with global batch 8, run as the pipeline runs it: in one process (micro-batch
2, so 4 accumulated) and under `accelerate launch` in two gloo processes (micro-batch 4, none
accumulated). Both take the same optimizer steps, each step on the same 8 rows (the union of what
the ranks fed the model, recorded by `rank_recorder`), and log the same loss; the committed weights
agree to float rounding. Tolerances from a measurement (this file, 2 cores, torch 2.13 CPU): the
loss per step (about 6) differed by at most 9.5e-7 (two float32 steps at that size), the weights by
at most 1.5e-7; the bounds leave about 10x and 30x. Each run takes some 15 s.
"""

from __future__ import annotations

import json
import os
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from safetensors.torch import load_file

from hala_exp.json_files import write_jsonl
from hala_exp.pipeline.dispatch import run_step
from hala_exp.pipeline.store import Store
from hala_exp.training.launch import accelerate_command

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
RECORDER = Path(__file__).resolve().parent / "rank_recorder"
ROWS, GLOBAL = 64, 8
STEPS = ROWS // GLOBAL
LOSS_TOL, WEIGHT_TOL = 1e-5, 5e-6
TRAIN = {"name": "t", "epochs": 1, "max_steps": -1, "warmup_ratio": 0.0, "lr_scheduler": "linear",
         "weight_decay": 0.0, "packing": False, "completion_only_loss": True, "use_cpu": True, "bf16": False,
         "gradient_checkpointing": False, "logging_steps": 1, "save_steps": 0, "seed": 0}


def _train(root: Path, model: Path, processes: int, micro_batch: int) -> tuple[dict, Path]:
    """The SFT step (global batch GLOBAL) in `processes` processes; (its record, the rank recordings)."""
    store = Store(root / "store")
    corpus = root / "corpus.jsonl"
    write_jsonl(corpus, [{"id": i, "instr_en": f"Say {i}", "resp_en": f"Item {i}", "instr_ar": f"قل {i} الآن",
                          "resp_ar": "العنصر " * (1 + i % 5) + str(i)} for i in range(ROWS)])
    spec = {"name": "sft", "stage": "sft", "fn": "hala_exp.stages.sft:run", "version": "1", "key": "k",
            "store": str(store.root),
            "config": {"arabic_ratio": None, "seed": 0, "train": TRAIN, "options": {"micro_batch": micro_batch},
                       "model": {"learning_rate": 1e-3, "global_batch": GLOBAL, "max_length": 64}},
            "inputs": {"corpus": str(corpus), "model": str(model)}, "input_keys": {}, "input_steps": {},
            "tracking": None}
    record = root / "record"
    record.mkdir(parents=True)
    env = {"PYTHONPATH": os.pathsep.join([str(RECORDER), str(ROOT)]), "HALA_RECORD_DIR": str(record),
           "OMP_NUM_THREADS": "1", **({"HALA_RECORD_ALONE": "1"} if processes == 1 else {})}
    launch = accelerate_command(sys.executable, "ddp", processes, mixed_precision="no") if processes > 1 else None
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        rec, ran = run_step(spec, sys.executable, root / "steps", launch, echo=False)
    assert ran
    return rec, record


def _rows_per_step(record: Path, processes: int) -> dict[int, list[int]]:
    """Optimizer step -> the training-set rows every rank fed the model in it, sorted."""
    steps: dict[int, list[int]] = defaultdict(list)
    for r in range(processes):
        for line in (record / f"rows-rank{r}.jsonl").read_text().splitlines():
            batch = json.loads(line)
            steps[batch["step"]] += batch["rows"]
    return {s: sorted(rows) for s, rows in steps.items()}


def _losses(record: Path) -> list[float]:
    return [x["loss"] for x in json.loads((record / "log-rank0.json").read_text()) if "loss" in x]


@pytest.fixture(scope="module")
def runs(tiny_lfm2, tmp_path_factory) -> dict[int, tuple[dict, Path]]:
    return {1: _train(tmp_path_factory.mktemp("one"), tiny_lfm2, 1, micro_batch=2),
            2: _train(tmp_path_factory.mktemp("two"), tiny_lfm2, 2, micro_batch=4)}


def test_the_split_follows_the_processes(runs):
    one, two = runs[1][0]["metrics"], runs[2][0]["metrics"]
    assert {k: one[k] for k in one if k.startswith("batch.")} == {
        "batch.global_batch": 8.0, "batch.micro_batch": 2.0, "batch.processes": 1.0, "batch.grad_accum": 4.0}
    assert {k: two[k] for k in two if k.startswith("batch.")} == {
        "batch.global_batch": 8.0, "batch.micro_batch": 4.0, "batch.processes": 2.0, "batch.grad_accum": 1.0}
    ranks = [json.loads((runs[2][1] / f"launcher-rank{r}.json").read_text()) for r in range(2)]
    assert {r["world_size"] for r in ranks} == {2}  # really two processes


def test_same_optimizer_steps_on_the_same_rows(runs):
    one, two = _rows_per_step(runs[1][1], 1), _rows_per_step(runs[2][1], 2)
    assert runs[1][0]["metrics"]["steps"] == runs[2][0]["metrics"]["steps"] == STEPS
    assert sorted(one) == sorted(two) == list(range(STEPS))
    for step in one:
        assert len(one[step]) == GLOBAL and -1 not in one[step], step
        assert one[step] == two[step], step
    assert sorted(r for rows in one.values() for r in rows) == list(range(ROWS))  # one epoch, each row once


def test_same_loss_and_weights(runs):
    one, two = _losses(runs[1][1]), _losses(runs[2][1])
    assert len(one) == len(two) == STEPS
    assert max(abs(a - b) for a, b in zip(one, two)) < LOSS_TOL, (one, two)
    assert one[-1] < one[0]  # it trained
    a = load_file(str(Store(runs[1][1].parent / "store").path("sft", "k") / "model" / "model.safetensors"))
    b = load_file(str(Store(runs[2][1].parent / "store").path("sft", "k") / "model" / "model.safetensors"))
    assert a.keys() == b.keys()
    assert max(float((a[n] - b[n]).abs().max()) for n in a) < WEIGHT_TOL
