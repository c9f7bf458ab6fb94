"""Vocabulary expansion: train an Arabic tokenizer, append its tokens, resize and initialise the
embeddings (mean of the base pieces, or random), and report fertility before and after."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from hala_exp.allam.expand import expand
from hala_exp.allam.fertility import fertility_table, write_report
from hala_exp.data.snapshot import snapshot_texts
from hala_exp.stages.declaration import StageInfo, pick, plain


def run(cfg: DictConfig, inputs: dict[str, str], out: Path) -> dict[str, float]:
    from hala_exp.models.loading import load_tokenizer

    e = cfg.expand
    corpus = snapshot_texts(inputs["corpus"])
    if not corpus:
        raise ValueError(f"allam.expand.corpus ({e.corpus.path}) gave no text to train the tokenizer on")
    metrics = expand(inputs["model"], corpus, out / "model", e.vocab_size, e.init, e.seed)
    texts = {lang: snapshot_texts(inputs[f"text.{lang}"]) for lang in cfg.texts}
    rows = fertility_table({"before": load_tokenizer(inputs["model"]),
                            "after": load_tokenizer(str(out / "model"))}, texts)
    write_report(rows, out)
    for r in rows:
        metrics[f"fertility.{r['language']}.{r['tokenizer']}"] = r["tokens_per_word"]
    return metrics


def key_config(cfg: DictConfig) -> dict:
    a = cfg.allam
    return {"expand": pick(a.expand, "corpus", "vocab_size", "init", "seed"), "texts": plain(a.fertility.texts)}


DECLARED = (StageInfo("expand_vocab", 1, "hala_exp.stages.expand_vocab:run", key_config, gpus="none",
                      headline=("added_tokens",)),)
