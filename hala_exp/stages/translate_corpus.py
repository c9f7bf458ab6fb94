"""Stage 5: the fine-tuned small translator turns the English instruction mix into Arabic.

The mix is built first (`mix.parquet`, `counts.json`: adapters, caps, de-duplication, seeded
shuffle); each row's first exchange is translated. Output `corpus.jsonl`: rows that pass the
quality gates, id and source kept, both languages side by side and the Arabic chat in `messages`;
`rejected.jsonl`: rows that failed a gate, with their reasons. Rows go through in shards of
`engine.shard_rows` committed to `inputs["shards"]` (resumable).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from omegaconf import DictConfig

from hala_exp.data.chat import to_instruction
from hala_exp.data.corpus import build_corpus_mix
from hala_exp.data.gates import apply_gates
from hala_exp.data.mix import iter_mix
from hala_exp.engines.base import sampling_from
from hala_exp.io import write_jsonl
from hala_exp.shards import run_sharded
from hala_exp.translate import LazyEngine, combine_metrics, translate_rows


def run(cfg: DictConfig, inputs: dict[str, str], out: Path) -> dict[str, float]:
    mix_metrics = build_corpus_mix(cfg.corpus, cfg.mix, cfg.seed, out)  # before the model
    rows = [to_instruction(r) for r in iter_mix(out / "mix.parquet")]
    engine = LazyEngine(cfg.engine, inputs["model"], cfg.translator.dtype)
    params = sampling_from(cfg.engine, cfg.translator.max_new_tokens)
    try:
        translated, shards, ran = run_sharded(
            rows, cfg.engine.shard_rows, inputs["shards"],
            lambda chunk: translate_rows(engine.get(), chunk, cfg.translator.prompt, params),
            id_of=lambda r: (r["source"], r["id"]), desc="translate")  # ids are unique per source
    finally:
        engine.close()
    passed, rejected, gate_metrics = apply_gates(translated, cfg.translator.prompt, cfg.gates)
    for r in passed:
        r["messages"] = [{"role": "user", "content": r["instr_ar"]}, {"role": "assistant", "content": r["resp_ar"]}]
    write_jsonl(out / "corpus.jsonl", passed)
    write_jsonl(out / "rejected.jsonl", rejected)
    kept = Counter(r["source"] for r in passed)
    metrics = {**combine_metrics(shards), "shards": float(len(shards)), "shards_run": float(ran)}
    metrics.update(mix_metrics)
    metrics.update(gate_metrics)
    for name in cfg.corpus:
        metrics[f"rows.{name}"] = float(kept[name])
    return metrics
