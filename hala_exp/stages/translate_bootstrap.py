"""Stage 2: the (FP8) teacher translates Orca pairs, question and response, EN->AR.

Output `tuples.jsonl`: <instr_en, instr_ar, resp_en, resp_ar> with the source row's id, for the
tuples that pass the quality gates; `rejected.jsonl`: the others, each with its reasons. Rows go
through in shards of `engine.shard_rows` committed to `inputs["shards"]`, so a killed job resumes.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from hala_exp.data.chat import to_instruction
from hala_exp.data.snapshot import iter_snapshot
from hala_exp.json_files import write_jsonl
from hala_exp.row_translation import translate_pass
from hala_exp.stages.declaration import StageInfo, group_weights, pick, plain, source_slice, teacher_engine
from hala_exp.stages.sizes import rows_gb


def run(cfg: DictConfig, inputs: dict[str, str], out: Path) -> dict[str, float]:
    rows = [to_instruction(r) for r in iter_snapshot(inputs["source"])]  # the checked snapshot of data.bootstrap
    t = cfg.teacher
    passed, rejected, metrics = translate_pass(cfg.engine, inputs["model"], t.dtype, t.prompt, t.max_new_tokens,
                                               rows, inputs["shards"], cfg.gates)
    write_jsonl(out / "tuples.jsonl", passed)
    write_jsonl(out / "rejected.jsonl", rejected)
    return metrics


def key_config(cfg: DictConfig) -> dict:
    return {"teacher": pick(cfg.teacher, "prompt", "max_new_tokens", "dtype"),
            "source": source_slice(cfg.data.bootstrap),
            "gates": plain(cfg.data.gates), "engine": teacher_engine(cfg)}


DECLARED = (StageInfo("translate_bootstrap", 3, "hala_exp.stages.translate_bootstrap:run", key_config,
                      partial="shards", writes_gb=lambda cfg: rows_gb(cfg.data.bootstrap), gpus="engine", stack="vllm",
                      weights=lambda cfg, _: group_weights(cfg, "teacher", fp8=bool(cfg.teacher.fp8)),
                      headline=("gates.passed",)),)
