"""Stage 5: the fine-tuned small translator turns the English instruction mix into Arabic.

The mix is built first (`mix.parquet`, `counts.json`: adapters, caps, de-duplication, seeded
shuffle); each row's first exchange is translated. Output `corpus.jsonl`: rows that pass the
quality gates, id and source kept, both languages side by side and the Arabic chat in `messages`;
`rejected.jsonl`: rows that failed a gate, with their reasons. Rows go through in shards of
`engine.shard_rows` committed to `inputs["shards"]` (resumable). Rows of a source that is already
Arabic (`lang: ar`) are mixed in as they are: neither translated nor gated, in their place in the mix.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from omegaconf import DictConfig

from hala_exp.data.chat import to_instruction
from hala_exp.data.corpus import build_corpus_mix
from hala_exp.data.mix import iter_mix
from hala_exp.json_files import write_jsonl
from hala_exp.row_translation import translate_pass
from hala_exp.stages.declaration import StageInfo, group_weights, pick, plain, source_slice, without_empty
from hala_exp.stages.sizes import rows_gb


def run(cfg: DictConfig, inputs: dict[str, str], out: Path) -> dict[str, float]:
    snapshots = {name: inputs[f"corpus.{name}"] for name in cfg.corpus}  # each source checked, in its step
    mix_metrics = build_corpus_mix(cfg.corpus, cfg.mix, cfg.seed, out, snapshots)  # before the model
    rows = [to_instruction(r) for r in iter_mix(out / "mix.parquet")]
    arabic = arabic_sources(cfg.corpus)
    t = cfg.translator
    passed, rejected, metrics = translate_pass(cfg.engine, inputs["model"], t.dtype, t.prompt, t.max_new_tokens,
                                               [r for r in rows if r["source"] not in arabic], inputs["shards"],
                                               cfg.gates, id_of=lambda r: (r["source"], r["id"]))  # unique per source
    as_is = [_as_is(r) for r in rows if r["source"] in arabic]
    if as_is:  # back in mix order, the translated rows around them
        order = {(r["source"], r["id"]): i for i, r in enumerate(rows)}
        passed = sorted([*passed, *as_is], key=lambda r: order[(r["source"], r["id"])])
        metrics["rows_as_is"] = float(len(as_is))
    for r in passed:
        r["messages"] = [{"role": "user", "content": r["instr_ar"]}, {"role": "assistant", "content": r["resp_ar"]}]
    write_jsonl(out / "corpus.jsonl", passed)
    write_jsonl(out / "rejected.jsonl", rejected)
    kept = Counter(r["source"] for r in passed)
    metrics.update(mix_metrics)
    for name in cfg.corpus:
        metrics[f"rows.{name}"] = float(kept[name])
    return metrics


def arabic_sources(corpus: Mapping[str, DictConfig]) -> set[str]:
    """The corpus sources already in Arabic (`lang: ar`): mixed in as they are."""
    return {name for name, src in corpus.items() if src.get("lang") == "ar"}


def _as_is(row: dict) -> dict:
    """An Arabic source's row in the corpus' shape: both sides Arabic, no English original."""
    return {"id": row["id"], "source": row["source"], "instr_en": None, "instr_ar": row["instruction"],
            "resp_en": None, "resp_ar": row["response"], "cut": False, "as_is": True}


def key_config(cfg: DictConfig) -> dict:
    """The corpus less `data.leave_out`; the mix less `arabic_ratio`, which only SFT reads. With an
    Arabic source, which rows pass as they are (only then: every other corpus keeps its key)."""
    d = cfg.data
    corpus = {k: v for k, v in d.corpus.items() if k != d.leave_out}
    return without_empty({"translator": pick(cfg.translator, "prompt", "max_new_tokens", "dtype"),
                          "corpus": {k: source_slice(v) for k, v in corpus.items()},
                          "mix": {k: v for k, v in plain(d.mix).items() if k != "arabic_ratio"},
                          "gates": plain(d.gates), "seed": d.seed, "engine": plain(cfg.engine),
                          "as_is": sorted(arabic_sources(corpus))}, "as_is")


def _corpus_gb(cfg: DictConfig) -> float | None:
    return rows_gb(*(v for k, v in cfg.data.corpus.items() if k != cfg.data.leave_out))


DECLARED = (StageInfo("translate_corpus", 3, "hala_exp.stages.translate_corpus:run", key_config, partial="shards",
                      writes_gb=_corpus_gb, gpus="engine", stack="vllm",
                      weights=lambda cfg, _: group_weights(cfg, "translator"),
                      headline=("gates.passed",)),)
