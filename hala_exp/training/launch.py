"""Multi-GPU training: pick the accelerate config by model size, build the `accelerate launch` command.

DDP keeps a full replica per GPU, which fits up to ~1.2B parameters with AdamW in bf16 on 80 GB;
a 9B model needs its parameters, gradients and optimizer state sharded (FSDP or DeepSpeed ZeRO-3).
The configs are accelerate's own YAML files in `hala_exp/training/accelerate/`; the command runs
`python -m hala_exp.step SPEC.json` on every rank (`hala_exp.pipeline.execute`: rank 0 commits).
"""

from __future__ import annotations

import shlex
from pathlib import Path

ACCELERATE_DIR = Path(__file__).resolve().parent / "accelerate"
STRATEGIES = ("ddp", "fsdp", "zero3")
SPEC = "{spec}"  # replaced by the spec file's path


def choose_strategy(distributed: str, params_b: float | None, ddp_max_params_b: float) -> str:
    """`train.distributed` as is, or for `auto`: ddp up to `ddp_max_params_b` billion parameters, else fsdp."""
    if distributed in STRATEGIES:
        return distributed
    if distributed != "auto":
        raise ValueError(f"train.distributed = {distributed!r}: must be auto, {', '.join(STRATEGIES)}")
    if params_b is None:
        return "fsdp"  # unknown size: sharding also works for small models, DDP may not fit a large one
    return "ddp" if params_b <= ddp_max_params_b else "fsdp"


def config_file(strategy: str) -> Path:
    return ACCELERATE_DIR / f"{strategy}.yaml"


def accelerate_command(python: str, strategy: str, gpus_per_node: int, nodes: int = 1,
                       port: int = 29500, mixed_precision: str = "bf16") -> list[str]:
    """The argv that runs one step on `gpus_per_node` x `nodes` GPUs; its last element is SPEC.

    One node: `python -m accelerate.commands.launch --config_file ... -m hala_exp.step SPEC`.
    Several nodes (inside a Slurm allocation): `srun` starts one launcher per node, each with its
    node's rank and the first node as rendezvous host.
    """
    launch = [python, "-m", "accelerate.commands.launch", "--config_file", str(config_file(strategy)),
              "--num_processes", str(gpus_per_node * nodes), "--num_machines", str(nodes),
              "--mixed_precision", mixed_precision]
    step = ["-m", "hala_exp.step", SPEC]
    if nodes == 1:
        return [*launch, "--machine_rank", "0", *step]
    multi = [*launch, "--machine_rank", "$SLURM_NODEID", "--main_process_ip", "$HALA_MAIN_HOST",
             "--main_process_port", str(port), "--rdzv_backend", "c10d", *step]
    script = ('export HALA_MAIN_HOST="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"; exec '
              + " ".join(a if a.startswith("$") else shlex.quote(a) for a in multi))
    return ["srun", "--nodes", str(nodes), "--ntasks-per-node", "1", "--kill-on-bad-exit=1",
            "bash", "-c", script]
