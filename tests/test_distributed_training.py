"""Training in several real processes (gloo on CPU), through the pipeline's own launch.

DDP: the SFT step under `accelerate launch --num_processes 2`; the committed model loads and equals
what rank 0 (and rank 1) ended with; the two ranks see every training row exactly once per epoch;
a run killed after a checkpoint resumes to the same weights as the uninterrupted one.
FSDP: accelerate selects FSDP only with accelerators (on CPU it falls back to MULTI_CPU DDP), so the
pipeline's FSDP run cannot happen here; the gather-and-save path it uses at the end is run on a
tiny LFM2 sharded by torch's FSDP 2 (`fully_shard`) in two gloo processes instead, and save_trained's
FSDP branch on a real Trainer that accelerate sets up for FSDP 2 once told the host has accelerators.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from hala_exp.json_files import write_jsonl
from hala_exp.pipeline.dispatch import run_step
from hala_exp.pipeline.store import Store
from hala_exp.training.launch import accelerate_command
from hala_exp.training.sft import last_checkpoint

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
RECORDER = Path(__file__).resolve().parent / "rank_recorder"
WORLD, BATCH, ACCUM, ROWS, EPOCHS = 2, 2, 2, 32, 2
STEPS_PER_EPOCH = ROWS // (WORLD * BATCH * ACCUM)
KEY = "d0"
TRAIN = {"name": "t", "epochs": EPOCHS, "max_steps": -1, "warmup_ratio": 0.0, "lr_scheduler": "linear",
         "weight_decay": 0.0, "packing": False, "completion_only_loss": True, "use_cpu": True, "bf16": False,
         "gradient_checkpointing": False, "logging_steps": 2, "save_steps": 2, "seed": 0}
MODEL = {"learning_rate": 1e-3, "global_batch": WORLD * BATCH * ACCUM, "max_length": 64}  # BATCH a rank, ACCUM times


def _spec(root: Path, model: Path) -> tuple[dict, Store]:
    """The SFT step as the pipeline hands it over: config, inputs, a checkpoint folder in the store."""
    root.mkdir(parents=True, exist_ok=True)
    store = Store(root / "store")
    corpus = root / "corpus.jsonl"
    write_jsonl(corpus, [{"id": i, "instr_en": f"Say {i}", "resp_en": f"Item {i}", "instr_ar": f"قل {i} الآن",
                          "resp_ar": f"العنصر رقم {i}"} for i in range(ROWS)])
    spec = {"name": "sft", "stage": "sft", "fn": "hala_exp.stages.sft:run", "version": "1", "key": KEY,
            "store": str(store.root), "config": {"arabic_ratio": None, "seed": 0, "model": MODEL, "train": TRAIN,
                                                  "options": {"micro_batch": BATCH}},
            "inputs": {"corpus": str(corpus), "model": str(model), "checkpoints": str(store.partial("sft", KEY))},
            "input_keys": {}, "input_steps": {}, "tracking": None}
    return spec, store


def _env(record: Path, delay_s: float = 0.0) -> dict[str, str]:
    record.mkdir(parents=True, exist_ok=True)
    return {"PYTHONPATH": os.pathsep.join([str(RECORDER), str(ROOT)]), "HALA_RECORD_DIR": str(record),
            "HALA_RECORD_DELAY_S": str(delay_s), "OMP_NUM_THREADS": "1"}


def _launch() -> list[str]:
    return accelerate_command(sys.executable, "ddp", WORLD, mixed_precision="no")


def _weights(store: Store) -> dict[str, torch.Tensor]:
    return load_file(str(store.path("sft", KEY) / "model" / "model.safetensors"))


@pytest.fixture(scope="module")
def straight(tiny_lfm2, tmp_path_factory) -> tuple[Store, Path]:
    """The SFT step on two DDP ranks, never interrupted, run as the pipeline runs it."""
    root = tmp_path_factory.mktemp("ddp")
    spec, store = _spec(root, tiny_lfm2)
    record = root / "record"
    with pytest.MonkeyPatch.context() as mp:
        for k, v in _env(record).items():
            mp.setenv(k, v)
        _, ran = run_step(spec, None, root / "steps", _launch(), echo=False)
    assert ran
    return store, record


def test_ddp_commits_rank_0s_full_weights_and_they_load(straight):
    from transformers import AutoModelForCausalLM

    store, record = straight
    ranks = [json.loads((record / f"launcher-rank{r}.json").read_text()) for r in range(WORLD)]
    assert sorted(r["rank"] for r in ranks) == [0, 1] and {r["world_size"] for r in ranks} == {WORLD}
    assert len({r["launcher_pid"] for r in ranks}) == 1  # one launcher started both
    saved = _weights(store)
    finals = [torch.load(record / f"final-rank{r}.pt") for r in range(WORLD)]
    for name, tensor in saved.items():
        torch.testing.assert_close(tensor, finals[0][name], rtol=0, atol=0, msg=name)
        torch.testing.assert_close(finals[1][name], finals[0][name], rtol=0, atol=0, msg=name)  # replicas agree
    model = AutoModelForCausalLM.from_pretrained(str(store.path("sft", KEY) / "model"), dtype=torch.float32)
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(tensor, finals[0][name], rtol=0, atol=0, msg=name)
    files = sorted(p.name for p in (store.path("sft", KEY) / "model").iterdir())
    assert "tokenizer.json" in files and "model.safetensors" in files
    metrics = store.record("sft", KEY)["metrics"]
    assert metrics["steps"] == EPOCHS * STEPS_PER_EPOCH and metrics["rows"] == ROWS


def test_ddp_ranks_see_each_row_once_per_epoch(straight):
    _, record = straight
    seen: dict[int, dict[int, list[int]]] = {}
    for r in range(WORLD):
        for line in (record / f"rows-rank{r}.jsonl").read_text().splitlines():
            batch = json.loads(line)
            seen.setdefault(batch["step"] // STEPS_PER_EPOCH, {}).setdefault(r, []).extend(batch["rows"])
    assert sorted(seen) == list(range(EPOCHS))
    for epoch, by_rank in seen.items():
        assert sorted(by_rank) == [0, 1]
        assert all(len(rows) == ROWS // WORLD for rows in by_rank.values()), epoch  # an even split
        assert Counter(by_rank[0] + by_rank[1]) == Counter(range(ROWS)), epoch  # all rows, each once
    assert seen[0][0] != seen[1][0]  # and reshuffled between epochs


def _tree(pid: int) -> list[int]:
    """`pid` and all its descendants (torch's launcher starts the ranks in sessions of their own)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
    return out


DRIVER = """import json, sys
from pathlib import Path
from hala_exp.pipeline.dispatch import run_step
spec, work, launch = json.loads(Path(sys.argv[1]).read_text())
run_step(spec, None, Path(work), launch, echo=False)
"""


def test_ddp_killed_after_a_checkpoint_resumes_to_the_same_weights(straight, tiny_lfm2, tmp_path):
    spec, store = _spec(tmp_path, tiny_lfm2)
    args = tmp_path / "args.json"
    args.write_text(json.dumps([spec, str(tmp_path / "steps"), _launch()]))
    # the pipeline process with its launcher and ranks, slowed so the kill lands between checkpoints
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(args)], env={**os.environ, **_env(tmp_path / "r1", 0.4)},
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while not (newest := last_checkpoint(store.partial("sft", KEY))) or newest.endswith("-0"):
        assert proc.poll() is None, "the run ended before its first checkpoint"
        assert time.time() < deadline
        time.sleep(0.05)
    for pid in _tree(proc.pid):
        os.kill(pid, signal.SIGKILL)
    proc.wait()
    stopped = int(last_checkpoint(store.partial("sft", KEY)).rsplit("-", 1)[1])
    assert 0 < stopped < EPOCHS * STEPS_PER_EPOCH and store.record("sft", KEY) is None

    with pytest.MonkeyPatch.context() as mp:  # the pipeline run again
        for k, v in _env(tmp_path / "r2").items():
            mp.setenv(k, v)
        _, ran = run_step(spec, None, tmp_path / "steps", _launch(), echo=False)
    assert ran
    log = (tmp_path / "steps" / "sft.log").read_text()
    assert f"resuming from {store.partial('sft', KEY)}/checkpoint-" in log
    resumed_steps = {json.loads(x)["step"] for x in (tmp_path / "r2" / "rows-rank0.jsonl").read_text().splitlines()}
    assert min(resumed_steps) >= stopped  # it did not start over
    a, b = _weights(straight[0]), _weights(store)
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=0, atol=0, msg=name)
    assert store.record("sft", KEY)["metrics"]["resumed_at_step"] == stopped


FSDP_SCRIPT = """import sys, torch, torch.distributed as dist
from pathlib import Path
from torch.distributed.fsdp import fully_shard
from transformers import AutoModelForCausalLM
from hala_exp.training.distributed import gather_full_state_dict, is_main, require_weights
dist.init_process_group("gloo")
model = AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.float32)
for layer in model.model.layers:
    fully_shard(layer)
fully_shard(model)
opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
ids = torch.randint(0, 500, (2, 16), generator=torch.Generator().manual_seed(dist.get_rank()))
for _ in range(3):
    model(input_ids=ids, labels=ids).loss.backward()
    opt.step()
    opt.zero_grad()
shards = {k: p.to_local().numel() for k, p in model.named_parameters()}
full = {k: p.full_tensor().detach().clone() for k, p in model.named_parameters()}
state = gather_full_state_dict(model)
out = Path(sys.argv[2])
if is_main():
    model.save_pretrained(str(out), state_dict=state)
    require_weights(out)
    torch.save(full, out / "rank0-full.pt")
else:
    assert state == {}, "only rank 0 holds the gathered state"
torch.save(shards, out.parent / f"shards-{dist.get_rank()}.pt")
dist.barrier()
"""


def test_fsdp2_gathers_the_full_model_on_rank_0(tiny_lfm2, tmp_path):
    from transformers import AutoModelForCausalLM

    script = tmp_path / "fsdp.py"
    script.write_text(FSDP_SCRIPT)
    out = tmp_path / "out" / "model"
    out.parent.mkdir()
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", str(script),
                           str(tiny_lfm2), str(out)], env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    full = torch.load(out / "rank0-full.pt")
    shards = [torch.load(out.parent / f"shards-{r}.pt") for r in range(2)]
    big = max(full, key=lambda k: full[k].numel())
    assert shards[0][big] + shards[1][big] == full[big].numel() > shards[0][big]  # really sharded
    loaded = AutoModelForCausalLM.from_pretrained(str(out), dtype=torch.float32)
    state = loaded.state_dict()
    for name, tensor in full.items():
        torch.testing.assert_close(state[name], tensor, rtol=0, atol=0, msg=name)
    base = AutoModelForCausalLM.from_pretrained(str(tiny_lfm2), dtype=torch.float32).state_dict()
    assert not torch.equal(base[big], state[big])  # the trained weights, not the initial ones


# The training side of the same path: a real Trainer, FSDP 2 through accelerate (as fsdp.yaml sets it
# up: SHARDED_STATE_DICT, each decoder layer sharded), a few steps, then save_trained. accelerate
# picks FSDP only on hosts it takes for accelerator hosts; on CPU it falls back to MULTI_CPU DDP, so
# the launched state says "MULTI_GPU" (the one line that stands in for the GPUs) and is kept as it is
# (use_configured_state). Devices, collectives (gloo), sharding, training and the save are all real.
FSDP_TRAINER_SCRIPT = """import sys, torch, torch.distributed as dist
from datetime import timedelta
from pathlib import Path
from accelerate.state import PartialState
from accelerate.utils import DistributedType
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments
from hala_exp.training.distributed import save_trained
PartialState(cpu=True, timeout=timedelta(seconds=120))  # a rank left waiting in a collective fails, not hangs
PartialState._shared_state["distributed_type"] = DistributedType.MULTI_GPU
model_dir, out = sys.argv[1], Path(sys.argv[2])
model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
ids = torch.randint(0, 500, (8, 16), generator=torch.Generator().manual_seed(0)).tolist()
args = TrainingArguments(output_dir=str(out.parent / "checkpoints"), use_cpu=True, report_to=[], save_strategy="no",
                         per_device_train_batch_size=2, max_steps=3, learning_rate=1e-2, seed=0,
                         accelerator_config={"use_configured_state": True}, fsdp=True,
                         fsdp_config={"version": 2, "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
                                      "state_dict_type": "SHARDED_STATE_DICT", "reshard_after_forward": True})
trainer = Trainer(model=model, args=args, train_dataset=Dataset.from_dict({"input_ids": ids, "labels": ids}))
assert trainer.is_fsdp_enabled and trainer.accelerator.is_fsdp2, trainer.accelerator.distributed_type
trainer.train()
save_trained(trainer, out, AutoTokenizer.from_pretrained(model_dir))
params = dict(trainer.model.named_parameters())
torch.save({k: p.to_local().numel() for k, p in params.items()}, out.parent / f"shards-{dist.get_rank()}.pt")
full = {k: p.full_tensor().detach().clone() for k, p in params.items()}  # collective
if dist.get_rank() == 0:
    torch.save(full, out.parent / "trained-full.pt")
"""


def _ranks(args: list[str], timeout_s: float = 300) -> tuple[int, str]:
    """(exit code, stderr) of two gloo ranks under torch's launcher; on a timeout every process of
    the tree is killed (the ranks run in sessions of their own: killing the launcher leaves them)."""
    proc = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", *args],
                            env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _, stderr = proc.communicate(timeout=timeout_s)
        return proc.returncode, stderr
    finally:
        if proc.poll() is None:
            for pid in reversed(_tree(proc.pid)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            proc.wait()


def test_fsdp2_training_saves_the_gathered_trained_weights_through_save_trained(tiny_lfm2, tmp_path):
    """save_trained's FSDP branch, the only one that writes a 9B student: the weights it leaves are
    the trained model's full weights (not a slice, not the initial ones) and load as a checkpoint."""
    from transformers import AutoModelForCausalLM

    script = tmp_path / "fsdp_trainer.py"
    script.write_text(FSDP_TRAINER_SCRIPT)
    out = tmp_path / "out" / "model"
    code, stderr = _ranks([str(script), str(tiny_lfm2), str(out)])
    assert code == 0, stderr[-3000:]
    trained = torch.load(out.parent / "trained-full.pt")
    shards = [torch.load(out.parent / f"shards-{r}.pt") for r in range(2)]
    big = max(trained, key=lambda k: trained[k].numel())
    assert shards[0][big] + shards[1][big] == trained[big].numel() > shards[0][big]  # really sharded
    files = sorted(p.name for p in out.iterdir())
    assert "model.safetensors" in files and "tokenizer.json" in files
    state = AutoModelForCausalLM.from_pretrained(str(out), dtype=torch.float32).state_dict()
    for name, tensor in trained.items():
        torch.testing.assert_close(state[name], tensor, rtol=0, atol=0, msg=name)
    base = AutoModelForCausalLM.from_pretrained(str(tiny_lfm2), dtype=torch.float32).state_dict()
    assert not torch.equal(base[big], state[big])  # the trained weights, not the initial ones
