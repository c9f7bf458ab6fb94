"""Checks of the HALA recipe: its models, prompts, merge, data sources and translation evaluation."""

from __future__ import annotations

from omegaconf import DictConfig

from hala_exp.config.checks.data import check_mix
from hala_exp.config.checks.dpo import check_dpo
from hala_exp.config.checks.engine import check_generation
from hala_exp.config.checks.eval import check_eval
from hala_exp.config.checks.models import check_model
from hala_exp.config.checks.sources import check_rows, check_source_data
from hala_exp.config.checks.training import check_merge, check_train
from hala_exp.config.errors import fail


def check_hala(cfg: DictConfig, check_data: bool) -> None:
    if cfg.dpo.enabled:
        check_dpo(cfg, check_data)
    for key in ("model", "teacher", "translator", "judge"):
        check_model(key, cfg[key])
    check_merge(cfg)
    base = cfg.translator.base
    if base is not None and "tiny" in (base, cfg.translator.id):
        fail("translator.base", base, "marks translator.id as already trained, which a tiny model built in code "
             "is not", "set translator.base=null to train the tiny translator, or use translator=hala_released")
    if base is not None and base == cfg.translator.id:
        fail("translator.base", base, "is translator.id itself: the base is what the translator was trained from",
             "set translator.base to the base model's hub id (LiquidAI/LFM2-1.2B for HALA's translator)")
    if cfg.data.leave_out is not None and cfg.data.leave_out not in cfg.data.corpus:
        fail("data.leave_out", cfg.data.leave_out, "is not a source of data.corpus",
             f"use one of {', '.join(cfg.data.corpus)} or null")
    if cfg.data.leave_out is not None and len(cfg.data.corpus) < 2:
        fail("data.leave_out", cfg.data.leave_out, "would leave the mix empty", "set data.leave_out=null")
    if "{text}" not in cfg.teacher.prompt:
        fail("teacher.prompt", cfg.teacher.prompt, "has no {text} placeholder", "add {text} where the English goes")
    if "{text}" not in cfg.translator.prompt:
        fail("translator.prompt", cfg.translator.prompt, "has no {text} placeholder",
             "add {text} where the English goes")
    if not 0.0 <= cfg.judge.max_invalid_rate <= 1.0:
        fail("judge.max_invalid_rate", cfg.judge.max_invalid_rate, "is a share and must lie in [0, 1]",
             "set judge.max_invalid_rate=0.2 (1 never warns)")
    for ph in ("{ar_text}", "{en_text}"):
        if ph not in cfg.judge.prompt:
            fail("judge.prompt", cfg.judge.prompt[:40] + "...", f"has no {ph} placeholder", f"add {ph}")
    check_train(cfg, ("model", "translator"))
    check_generation(cfg, ("teacher", "translator", "judge", "eval.translation"))
    if cfg.eval.translation.n <= 0:
        fail("eval.translation.n", cfg.eval.translation.n, "must be positive", "set eval.translation.n=500")
    check_eval(cfg.eval, check_data)
    sources = {"data.bootstrap": cfg.data.bootstrap, "data.parallel": cfg.data.parallel,
               "eval.translation.source": cfg.eval.translation.source}
    if not cfg.data.corpus:
        fail("data.corpus", {}, "the mix has no sources", "add at least one source under data.corpus")
    sources.update({f"data.corpus.{k}": v for k, v in cfg.data.corpus.items()})
    sources.update({f"data.translated.{k}": v for k, v in cfg.data.translated.items()})
    for key, src in sources.items():
        check_rows(key, src)
    check_mix(cfg.data)
    if check_data:
        for key, src in sources.items():
            check_source_data(key, src)
