"""Pieces both recipes end with: SFT on sources as they are, DPO, lighteval and held-out loss."""

from __future__ import annotations

from omegaconf import DictConfig

from hala_exp.recipes.graph import Builder, Ref


def sft_sources(b: Builder, sources: DictConfig, model: Ref | str, where: str, short: str,
                mix: dict | None = None) -> Ref:
    """The student's SFT on instruction sources (config key `where`) read as they are; their
    snapshots are `source.<short>.<name>`. `mix`: a language share of a total (`translated_mix`)."""
    snaps = {f"source.{n}": b.source(f"{short}.{n}", f"{where}.{n}", "chat", src, n) for n, src in sources.items()}
    b.add("sft", "sft_sources", {"model": model, **snaps}, sources, mix)
    return Ref("sft", "model")


def translated_mix(cfg: DictConfig) -> dict | None:
    """The Arabic/English share of an SFT on already-translated sources (`data.mix.arabic_ratio` of
    `data.mix.total_rows`, by each source's `lang`), or None: every row of every source."""
    mix = cfg.data.mix
    if mix.arabic_ratio is None:
        return None
    return {"arabic_ratio": float(mix.arabic_ratio), "total_rows": int(mix.total_rows)}


def dpo(b: Builder, tuned: Ref | str) -> Ref:
    """The optional preference stage after SFT; returns the aligned model."""
    d = b.cfg.dpo
    b.add("dpo", "dpo", {"model": tuned,
                         "preferences": b.source("preferences", "dpo.preferences", "preferences", d.preferences)})
    return Ref("dpo", "model")


def lighteval(b: Builder, students: dict[str, Ref | str]) -> None:
    """`evaluate.<system>` for each student, when the suite has tasks."""
    if b.cfg.eval.lighteval.tasks:
        for system, model in students.items():
            b.add(f"evaluate.{system}", "evaluate_lighteval", {"model": model})


def heldout(b: Builder, systems: dict[str, Ref | str]) -> None:
    """`heldout.<system>`: held-out loss per language for each system, when eval.heldout has texts."""
    h = b.cfg.eval.heldout
    if not h.texts:
        return
    texts = b.texts("text", "eval.heldout.texts", h.texts)
    for system, model in systems.items():
        b.add(f"heldout.{system}", "evaluate_heldout", {"model": model, **texts})
