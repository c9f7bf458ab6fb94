"""Stage 3: a strict bilingual judge keeps OPUS-style pairs it answers `accept` for.

Every candidate lands in exactly one of accepted / rejected / invalid (neither word, or both), so
the counts always add up to the number of candidates.
"""

from __future__ import annotations

import re
from pathlib import Path

from omegaconf import DictConfig

from hala_exp.data.adapters import Counts, iter_parallel
from hala_exp.engines.base import sampling_from
from hala_exp.io import write_jsonl
from hala_exp.shards import run_sharded
from hala_exp.translate import LazyEngine

_WORD = re.compile(r"[a-z]+")


def parse_verdict(text: str) -> str:
    """'accept' or 'reject' when exactly one of them appears as a word (any case), else 'invalid'."""
    words = set(_WORD.findall(text.lower()))
    found = {w for w in ("accept", "reject") if w in words}
    return found.pop() if len(found) == 1 else "invalid"


def _judge_shard(engine: LazyEngine, cfg: DictConfig, rows: list[dict]) -> tuple[list[dict], dict[str, float]]:
    prompts = [[{"role": "user", "content": cfg.judge.prompt.format(ar_text=r["ar"], en_text=r["en"])}]
               for r in rows]
    gens = engine.get().chat(prompts, sampling_from(cfg.engine, cfg.judge.max_new_tokens))
    judged = [{**row, "verdict": parse_verdict(gen.text), "verdict_raw": gen.text} for row, gen in zip(rows, gens)]
    return judged, {"tokens": float(sum(g.new_tokens for g in gens))}


def run(cfg: DictConfig, inputs: dict[str, str], out: Path) -> dict[str, float]:
    """Judge every candidate, in shards of `engine.shard_rows` committed to `inputs["shards"]`."""
    counts = Counts()
    rows = list(iter_parallel(cfg.source, "parallel", counts))
    engine = LazyEngine(cfg.engine, inputs["model"], cfg.judge.dtype)
    try:
        judged, shards, ran = run_sharded(rows, cfg.engine.shard_rows, inputs["shards"],
                                          lambda chunk: _judge_shard(engine, cfg, chunk), desc="judge")
    finally:
        engine.close()
    buckets: dict[str, list[dict]] = {"accept": [], "reject": [], "invalid": []}
    for row in judged:
        verdict = row.pop("verdict")
        buckets[verdict].append(row)
    write_jsonl(out / "accepted.jsonl", buckets["accept"])
    write_jsonl(out / "rejected.jsonl", buckets["reject"])
    write_jsonl(out / "invalid.jsonl", buckets["invalid"])
    n = len(rows)
    tokens, seconds = sum(m["tokens"] for m in shards), sum(m["seconds"] for m in shards)
    return {"candidates": float(n), "accepted": float(len(buckets["accept"])),
            "rejected": float(len(buckets["reject"])), "invalid": float(len(buckets["invalid"])),
            "accept_rate": len(buckets["accept"]) / n if n else 0.0, **counts.as_metrics("source.parallel"),
            "tokens_per_s": tokens / seconds if seconds > 0 else 0.0,
            "shards": float(len(shards)), "shards_run": float(ran)}
