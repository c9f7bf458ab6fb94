"""Stage 3: a strict bilingual judge keeps OPUS-style pairs it answers `accept` for.

Every candidate lands in exactly one of accepted / rejected / invalid (see `parse_verdict`), so
the counts always add up to the number of candidates. A pair whose prompt does not fit the engine's
context is never judged: it is invalid, marked `too_long`, counted in `too_long` and left out of
the invalid rate. A high share of invalid verdicts means the
judge is not following its prompt: it is the `invalid_rate` metric, and above
`judge.max_invalid_rate` the stage logs a warning (Python `logging`, logger `hala_exp`).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from omegaconf import DictConfig

from hala_exp.data.snapshot import load_snapshot
from hala_exp.engines.base import sampling_from
from hala_exp.json_files import write_jsonl
from hala_exp.row_translation import LazyEngine
from hala_exp.shards import run_sharded, summed
from hala_exp.stages.declaration import StageInfo, group_weights, pick, plain
from hala_exp.stages.sizes import rows_gb

log = logging.getLogger("hala_exp")
VERDICTS = ("accept", "reject")
COUNTED = {"accept": "accepted", "reject": "rejected", "invalid": "invalid"}  # verdict -> its count's name
# A label the judge may put before its verdict: "Output: accept", "Final answer - reject".
_PREAMBLE = re.compile(r"^(?:final\s+)?(?:output|verdict|answer|decision|judg(?:e)?ment|label|result)\s*[:=-]\s*")
_MARKUP = re.compile(r"[*_`#\"“”]")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
NEGATIONS = frozenset({"not", "no", "never", "neither", "nor", "cannot", "cant", "dont", "wont", "without"})
HEDGES = frozenset({"maybe", "perhaps", "probably", "possibly", "likely", "unlikely", "might", "may", "could",
                    "would", "should", "unsure", "uncertain", "partially", "partly", "somewhat", "arguably",
                    "borderline", "think", "guess", "seems", "either"})


def parse_verdict(text: str) -> str:
    """'accept' or 'reject' for a clean verdict, else 'invalid'.

    Rule, on the lower-cased text with markdown marks (`*`, `_`, backticks, `#`, quotes) removed and
    one known label ("output:", "verdict:", "answer:", "final answer:", "decision:", ...) trimmed:
    exactly one of accept / reject appears as a word, it is the first or the last word, and no
    negation (not, no, cannot, any "n't", ...) or hedge (maybe, probably, would, ...) word and no
    question mark is present. So "Accept.", "**accept**", "Output: accept" and "reject\n\nThe" (cut
    at the token limit) count; "I do not accept", "accept? maybe", "accept or reject",
    "I would probably accept" and "I accept this translation" (verdict mid-sentence) are invalid.
    """
    clean = _MARKUP.sub("", text.lower().replace("\u2019", "'")).strip()
    clean = _PREAMBLE.sub("", clean)
    words = _WORD.findall(clean)
    found = [w for w in words if w in VERDICTS]
    if len(set(found)) != 1 or (words[0] not in VERDICTS and words[-1] not in VERDICTS):
        return "invalid"
    if "?" in clean or any(w in NEGATIONS or w in HEDGES or w.endswith("n't") for w in words):
        return "invalid"
    return found[0]


def warn_if_invalid(invalid: int, candidates: int, max_rate: float) -> float:
    """The share of invalid verdicts; logs a warning when it is above `max_rate`."""
    rate = invalid / candidates if candidates else 0.0
    if rate > max_rate:
        log.warning("judge: %.1f%% of %d verdicts are invalid (neither a clean accept nor reject), above "
                    "judge.max_invalid_rate = %.1f%%; they are neither kept nor counted as rejected. Check "
                    "judge.prompt and the judge model (see invalid.jsonl for its raw answers), or raise "
                    "judge.max_new_tokens if answers are cut", 100 * rate, candidates, 100 * max_rate)
    return rate


def _judge_shard(engine: LazyEngine, cfg: DictConfig, rows: list[dict]) -> tuple[list[dict], dict[str, float]]:
    prompts = [[{"role": "user", "content": cfg.judge.prompt.format(ar_text=r["ar"], en_text=r["en"])}]
               for r in rows]
    gens = engine.get().chat(prompts, sampling_from(cfg.engine, cfg.judge.max_new_tokens))
    judged = [{**row, "verdict": parse_verdict(gen.text), "verdict_raw": gen.text, **({"too_long": True}
               if gen.too_long else {})} for row, gen in zip(rows, gens)]
    counts = {name: float(sum(r["verdict"] == verdict for r in judged)) for verdict, name in COUNTED.items()}
    return judged, {"tokens": float(sum(g.new_tokens for g in gens)), **counts,
                    "too_long": float(sum(g.too_long for g in gens))}


def running_totals(shards: list[dict[str, float]]) -> dict[str, float]:
    """The verdicts so far, and the accept / invalid rates over them."""
    out = summed(shards)
    n = sum(out.get(name, 0.0) for name in COUNTED.values())
    if n:
        out.update(accept_rate=out.get("accepted", 0.0) / n, invalid_rate=out.get("invalid", 0.0) / n)
    return out


def run(cfg: DictConfig, inputs: dict[str, str], out: Path) -> dict[str, float]:
    """Judge every candidate, in shards of `engine.shard_rows` committed to `inputs["shards"]`."""
    rows = load_snapshot(inputs["source"])  # the checked snapshot of data.parallel
    engine = LazyEngine(cfg.engine, inputs["model"], cfg.judge.dtype)
    try:
        judged, shards, ran = run_sharded(rows, cfg.engine.shard_rows, inputs["shards"],
                                          lambda chunk: _judge_shard(engine, cfg, chunk), desc="judge",
                                          totals=running_totals)
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
    too_long = sum(r.get("too_long", False) for r in buckets["invalid"])  # never judged: not the judge's fault
    invalid_rate = warn_if_invalid(len(buckets["invalid"]) - too_long, n - too_long, cfg.messages.max_invalid_rate)
    tokens, seconds = sum(m["tokens"] for m in shards), sum(m["seconds"] for m in shards)
    return {"candidates": float(n), "accepted": float(len(buckets["accept"])),
            "rejected": float(len(buckets["reject"])), "invalid": float(len(buckets["invalid"])),
            "too_long": float(too_long),
            "accept_rate": len(buckets["accept"]) / n if n else 0.0, "invalid_rate": invalid_rate,
            "tokens_per_s": tokens / seconds if seconds > 0 else 0.0,
            "shards": float(len(shards)), "shards_run": float(ran)}


def key_config(cfg: DictConfig) -> dict:
    return {"judge": pick(cfg.judge, "prompt", "max_new_tokens", "dtype"), "source": plain(cfg.data.parallel),
            "engine": plain(cfg.engine)}


DECLARED = (StageInfo("judge", 3, "hala_exp.stages.judge:run", key_config, partial="shards",
                      writes_gb=lambda cfg: rows_gb(cfg.data.parallel),
                      messages=lambda cfg: {"max_invalid_rate": cfg.judge.max_invalid_rate},
                      gpus="engine", stack="vllm",
                      weights=lambda cfg, _: group_weights(cfg, "judge"), headline=("accept_rate",)),)
