"""Checks of the ALLaM recipe: fertility texts, vocabulary expansion, the CPT mixture and its SFT."""

from __future__ import annotations

from omegaconf import DictConfig

from hala_exp.config.checks.data import check_mix
from hala_exp.config.checks.dpo import check_dpo
from hala_exp.config.checks.models import check_model
from hala_exp.config.checks.sources import check_rows, check_source_data, check_text_source
from hala_exp.config.checks.training import check_batch, check_train
from hala_exp.config.errors import check_choice, fail


def check_allam(cfg: DictConfig, check_data: bool) -> None:
    a = cfg.allam
    check_model("model", cfg.model)
    if not a.fertility.texts:
        fail("allam.fertility.texts", {}, "no text to measure fertility on", "add e.g. allam.fertility.texts.arabic")
    for lang, src in a.fertility.texts.items():
        check_text_source(f"allam.fertility.texts.{lang}", src, check_data)
    e = a.expand
    if e.enabled:
        check_choice("allam.expand.init", e.init, ("mean", "random"))
        if e.vocab_size <= 0:
            fail("allam.expand.vocab_size", e.vocab_size, "must be positive", "set allam.expand.vocab_size=32000")
        check_text_source("allam.expand.corpus", e.corpus, check_data)
    c = a.cpt
    if not 0.0 <= c.ratio <= 1.0:
        fail("allam.cpt.ratio", c.ratio, "the Arabic share of the tokens must lie in [0, 1]",
             "use allam.cpt.ratio=0.45 (45% Arabic, 55% English)")
    if not 0.0 <= c.translated_fraction <= 1.0:
        fail("allam.cpt.translated_fraction", c.translated_fraction, "must lie in [0, 1]",
             "use allam.cpt.translated_fraction=0.3")
    if c.ratio > 0 and not c.arabic and not (c.use_translated and c.translated_fraction == 1.0):
        fail("allam.cpt.arabic", {}, f"ratio {c.ratio} asks for Arabic text but no source is given",
             "add a source under allam.cpt.arabic or set allam.cpt.ratio=0")
    if c.ratio < 1 and not c.english:
        fail("allam.cpt.english", {}, f"ratio {c.ratio} asks for English text but no source is given",
             "add a source under allam.cpt.english or set allam.cpt.ratio=1")
    if c.use_translated and c.ratio > 0 and c.translated_fraction > 0 and not c.translated:
        fail("allam.cpt.translated", {}, "use_translated is on but no translated source is given",
             "add a source under allam.cpt.translated or set allam.cpt.use_translated=false")
    if c.spike_threshold <= 1.0:
        fail("allam.cpt.spike_threshold", c.spike_threshold, "a spike must exceed the running median",
             "use allam.cpt.spike_threshold=2.0")
    check_batch("allam.cpt", c)
    for f in ("tokens", "learning_rate", "max_length", "max_steps", "spike_window"):
        if c[f] <= 0:
            fail(f"allam.cpt.{f}", c[f], "must be positive", f"set allam.cpt.{f} to a positive value")
    for group in ("arabic", "english", "translated", "heldout"):
        if group == "translated" and not c.use_translated:
            continue
        for name, src in c[group].items():
            check_text_source(f"allam.cpt.{group}.{name}", src, check_data)
    if a.sft.enabled:
        check_allam_sft(cfg, check_data)


def check_allam_sft(cfg: DictConfig, check_data: bool) -> None:
    a = cfg.allam
    if a.sft.sources is not None:
        fail("allam.sft.sources", list(a.sft.sources), "is no longer a setting: the SFT's instruction sources of every "
             "recipe are data.translated", "move them under data.translated (e.g. data=allam_tiny)")
    if not cfg.data.translated:
        fail("data.translated", {}, "the ALLaM recipe's SFT has no instruction source",
             "add one under data.translated (data=allam_tiny or allam_wiki), or set allam.sft.enabled=false")
    check_train(cfg, ("model",))
    check_mix(cfg.data)  # data.mix.arabic_ratio shares the SFT rows by language, as for recipe=hala
    for name, src in cfg.data.translated.items():
        check_rows(f"data.translated.{name}", src)
        if check_data:
            check_source_data(f"data.translated.{name}", src)
    if cfg.dpo.enabled:
        check_dpo(cfg, check_data)
