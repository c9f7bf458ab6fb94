"""What a step writes into the store, estimated from the config before it runs (the free-space
checks, `hala_exp.pipeline.disk_space`).

The estimates come from the model sizes in the config (`params_b`): a fine-tune saves fp32 weights
(TRL's default) and keeps `KEPT_CHECKPOINTS` checkpoints of weights and AdamW state while it trains;
a stage that writes a model of known size declares it (`StageInfo.writes_gb`). A generation step
writes `GENERATED_ROW_BYTES` a row of its sources' `rows`. Steps of unknown size (data snapshots, a
model without `params_b`) are None.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from hala_exp.stages.declaration import StageInfo

GB = 1e9
FP32_BYTES = 4
CHECKPOINT_BYTES_PER_PARAM = 12  # fp32 weights + AdamW's two fp32 moments
KEPT_CHECKPOINTS = 2  # `save_total_limit` of the training stages (hala_exp.training.sft)
# A generated row in the store (its output, the shard copy kept until the commit, the mix): the tiny
# run's translate_corpus holds 3.8x its source rows' bytes (80 rows of 132 B -> 40 kB); OpenOrca's
# rows are assumed at about 2 kB, so about 8 kB a row.
GENERATED_ROW_BYTES = 8_000


def step_bytes(cfg: DictConfig, info: StageInfo, *args: Any) -> int | None:
    """What a step of stage `info` (with the graph's `args` for it) writes into the store, output and
    resumable state together, or None if unknown."""
    if info.writes_gb is not None:
        gb = info.writes_gb(cfg, *args)
        return None if gb is None else int(gb * GB)
    if info.trains is None:
        return None
    params_b = OmegaConf.select(cfg, f"{info.trains.model}.params_b")
    if params_b is None:
        return None
    params = float(params_b) * 1e9
    checkpoints = KEPT_CHECKPOINTS * CHECKPOINT_BYTES_PER_PARAM * params if cfg.train.get("save_steps") else 0
    return int(FP32_BYTES * params + checkpoints)


def rows_gb(*sources: DictConfig) -> float | None:
    """GB a generation pass over `sources` writes, from their `rows` (an upper bound: filters and mix
    weights keep fewer); None when a source states no row count."""
    rows = [src.get("rows") for src in sources]
    if any(r is None for r in rows):
        return None
    return sum(rows) * GENERATED_ROW_BYTES / GB
