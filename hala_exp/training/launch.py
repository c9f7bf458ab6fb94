"""Multi-GPU training: pick the accelerate config by model size, build the `accelerate launch` command.

DDP keeps a full replica per GPU, which fits up to ~1.2B parameters with AdamW in bf16 on 80 GB;
a 9B model needs its parameters, gradients and optimizer state sharded (FSDP or DeepSpeed ZeRO-3).
The configs are accelerate's own YAML files in `hala_exp/training/accelerate/`; the command runs
`python -m hala_exp.step_process SPEC.json` on every rank (`hala_exp.pipeline.execute`: rank 0 commits), and
every rank saves through `hala_exp.training.distributed` (full weights, gathered, written by rank 0).
"""

from __future__ import annotations

from pathlib import Path

ACCELERATE_DIR = Path(__file__).resolve().parent / "accelerate"
STRATEGIES = ("ddp", "fsdp", "zero3")
SPEC = "{spec}"  # replaced by the spec file's path
MACHINE_RANK = "{machine_rank}"  # replaced on each node by its rank in the job
MAIN_HOST = "{main_host}"  # replaced by the job's first host


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
    """The argv of one node's launcher for `gpus_per_node` x `nodes` processes; its last element is SPEC.

    One node: complete. Several nodes: every node runs this same launcher once, with MACHINE_RANK and
    MAIN_HOST filled in from the Slurm allocation (`hala_exp.launch.nodes`); static rendezvous puts
    global rank 0 on machine 0, the node that commits the step.
    """
    launch = [python, "-m", "accelerate.commands.launch", "--config_file", str(config_file(strategy)),
              "--num_processes", str(gpus_per_node * nodes), "--num_machines", str(nodes),
              "--mixed_precision", mixed_precision]
    step = ["-m", "hala_exp.step_process", SPEC]
    if nodes == 1:
        return [*launch, "--machine_rank", "0", *step]
    return [*launch, "--machine_rank", MACHINE_RANK, "--main_process_ip", MAIN_HOST,
            "--main_process_port", str(port), "--rdzv_backend", "static", "--same_network", *step]


def ranks_per_node(launch: list[str] | None) -> int:
    """How many processes one node's launcher starts (1 for a step run without one)."""
    if not launch:
        return 1
    return int(launch[launch.index("--num_processes") + 1]) // int(launch[launch.index("--num_machines") + 1])
