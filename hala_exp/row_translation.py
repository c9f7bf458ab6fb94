"""Translate instruction rows (instruction and response) EN->AR through any engine.

Shared by the bootstrap stage (teacher) and the corpus stage (small translator): both keep each
row's id and source, and record whether an output was cut at the token limit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig

from hala_exp.arabic_text import arabic_ratio, has_arabic
from hala_exp.engines.base import Engine, SamplingParams


def translate_texts(engine: Engine, texts: list[str], prompt: str, params: SamplingParams):
    """One chat turn per text: `prompt` with the English in `{text}`."""
    return engine.chat([[{"role": "user", "content": prompt.format(text=t)}] for t in texts], params)


def translate_rows(engine: Engine, rows: list[dict], prompt: str, params: SamplingParams
                   ) -> tuple[list[dict], dict[str, float]]:
    """Rows {id, source, instruction, response} -> {id, source, instr_en, instr_ar, resp_en, resp_ar, ...}."""
    start = time.perf_counter()
    texts = [r["instruction"] for r in rows] + [r["response"] for r in rows]
    gens = translate_texts(engine, texts, prompt, params)
    n = len(rows)
    out = []
    for i, r in enumerate(rows):
        gi, gr = gens[i], gens[n + i]
        row = {"id": r["id"], "source": r["source"], "instr_en": r["instruction"], "instr_ar": gi.text,
               "resp_en": r["response"], "resp_ar": gr.text, "cut": (not gi.finished) or (not gr.finished)}
        if gi.too_long or gr.too_long:  # only then: rows that fit are written as before
            row["too_long"] = True
        out.append(row)
    seconds = time.perf_counter() - start
    tokens = sum(g.new_tokens for g in gens)
    outputs = [g.text for g in gens]
    return out, {
        "rows": float(n),
        "outputs_with_arabic": float(sum(has_arabic(t) for t in outputs)),
        "mean_arabic_ratio": sum(arabic_ratio(t) for t in outputs) / max(len(outputs), 1),
        "cut_at_limit": float(sum(not g.finished and not g.too_long for g in gens)),
        "too_long": float(sum(row.get("too_long", False) for row in out)),  # rows left untranslated
        "tokens": float(tokens),
        "tokens_per_s": tokens / seconds if seconds > 0 else 0.0,
    }


def combine_metrics(shards: list[dict[str, float]]) -> dict[str, float]:
    """Metrics of a whole pass from its shards' `translate_rows` metrics (each with `seconds`)."""
    rows = sum(m["rows"] for m in shards)
    tokens = sum(m["tokens"] for m in shards)
    seconds = sum(m["seconds"] for m in shards)
    return {"rows": rows,
            "outputs_with_arabic": sum(m["outputs_with_arabic"] for m in shards),
            "mean_arabic_ratio": sum(m["mean_arabic_ratio"] * m["rows"] for m in shards) / max(rows, 1),
            "cut_at_limit": sum(m["cut_at_limit"] for m in shards),
            "too_long": sum(m.get("too_long", 0.0) for m in shards),
            "tokens": tokens, "generation_seconds": seconds,
            "tokens_per_s": tokens / seconds if seconds > 0 else 0.0}


def running_totals(shards: list[dict[str, float]]) -> dict[str, float]:
    """A pass's numbers so far: `combine_metrics`, and the gates' counts of the shards that have them."""
    gates: dict[str, float] = {}
    for m in shards:
        for k, v in m.items():
            if k.startswith("gates."):
                gates[k] = gates.get(k, 0.0) + v
    return {**combine_metrics(shards), **gates}


class LazyEngine:
    """Opens the engine on first use: a resumed pass whose shards are all done loads no model."""

    def __init__(self, engine_cfg, model_path: str, model_dtype: str):
        self.args = (engine_cfg, model_path, model_dtype)
        self.engine: Engine | None = None
        self._special: list[str] | None = None

    def get(self) -> Engine:
        if self.engine is None:
            from hala_exp.engines.backends import make_engine

            self.engine = make_engine(*self.args)
            self._special = self.engine.special_tokens()
        return self.engine

    def special_tokens(self) -> list[str]:
        """The model's special tokens: from the engine's own tokenizer once it has opened (also after
        `close`), else from the tokenizer alone, so a fully resumed pass still loads no model."""
        if self._special is None:
            from hala_exp.models.loading import load_tokenizer, special_token_strings

            self._special = special_token_strings(load_tokenizer(self.args[1]))
        return self._special

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
            self.engine = None


def translate_pass(engine_cfg: DictConfig, model_path: str, model_dtype: str, prompt: str, max_new_tokens: int,
                   rows: list[dict], shards_dir: str, gates: DictConfig,
                   id_of: Callable[[dict], Any] = lambda r: r["id"]) -> tuple[list[dict], list[dict], dict[str, float]]:
    """Translate `rows` in resumable shards (the model opens only if a shard is left), then pass
    them through the quality gates, with the model's special tokens added to `gates.special_tokens`:
    (passed, rejected with reasons, metrics of the whole pass)."""
    from hala_exp.data.gates import apply_gates, with_special_tokens
    from hala_exp.engines.base import sampling_from
    from hala_exp.shards import run_sharded

    engine = LazyEngine(engine_cfg, model_path, model_dtype)
    params = sampling_from(engine_cfg, max_new_tokens)

    def gated() -> DictConfig:
        if gates.enabled and gates.reject_special_tokens:
            return with_special_tokens(gates, engine.special_tokens())
        return gates

    def shard(chunk: list[dict]) -> tuple[list[dict], dict[str, float]]:
        """Translated rows, with the gates' counts on them (the live rejections by reason)."""
        out, metrics = translate_rows(engine.get(), chunk, prompt, params)
        return out, {**metrics, **apply_gates(out, prompt, gated())[2]}

    try:
        translated, shards, ran = run_sharded(rows, engine_cfg.shard_rows, shards_dir, shard, id_of=id_of,
                                              desc="translate", totals=running_totals)
    finally:
        engine.close()
    passed, rejected, gate_metrics = apply_gates(translated, prompt, gated())
    return passed, rejected, {**combine_metrics(shards), "shards": float(len(shards)), "shards_run": float(ran),
                              **gate_metrics}
