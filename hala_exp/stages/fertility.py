"""Tokenizer fertility (ALLaM, Figure 2): tokens per word and per character, per tokenizer and language.

Inputs are the tokenizers to compare (`base` is the student's; `tok.<label>` any others); writes
fertility.json, fertility.md and fertility.png.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from hala_exp.allam.fertility import fertility_table, write_report
from hala_exp.data.snapshot import snapshot_texts
from hala_exp.stages.declaration import StageInfo, plain


def run(cfg: DictConfig, inputs: dict[str, str], out: Path) -> dict[str, float]:
    from hala_exp.models.loading import load_tokenizer

    texts = {lang: snapshot_texts(inputs[f"text.{lang}"]) for lang in cfg.texts}
    tokenizers = {name.removeprefix("tok."): load_tokenizer(path) for name, path in inputs.items()
                  if not name.startswith("text.")}
    rows = fertility_table(tokenizers, texts)
    write_report(rows, out)
    metrics: dict[str, float] = {}
    for r in rows:
        metrics[f"{r['tokenizer']}.{r['language']}.tokens_per_word"] = r["tokens_per_word"]
        metrics[f"{r['tokenizer']}.{r['language']}.tokens_per_char"] = r["tokens_per_char"]
    return metrics


def key_config(cfg: DictConfig) -> dict:
    return {"texts": plain(cfg.allam.fertility.texts)}


DECLARED = (StageInfo("fertility", 1, "hala_exp.stages.fertility:run", key_config, gpus="none",
                      headline=("*.tokens_per_word",)),)
