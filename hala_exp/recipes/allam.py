"""ALLaM studies: fertility -> expand_vocab -> cpt -> sft -> dpo -> evaluate (sft, dpo optional)."""

from __future__ import annotations

from omegaconf import DictConfig

from hala_exp.recipes.common import dpo, heldout, lighteval, sft_sources, translated_mix
from hala_exp.recipes.graph import Builder, Ref, Step


def build(cfg: DictConfig) -> list[Step]:
    b = Builder(cfg)
    a = cfg.allam
    base = b.model("model", "student_base")
    tokenizers: dict[str, Ref | str] = {"base": base, **{f"tok.{k}": v for k, v in a.fertility.tokenizers.items()}}
    texts = b.texts("text", "allam.fertility.texts", a.fertility.texts)
    b.add("fertility", "fertility", {**tokenizers, **texts})
    model: Ref | str = base
    if a.expand.enabled:
        corpus = b.source("expand.corpus", "allam.expand.corpus", "text", a.expand.corpus)
        b.add("expand_vocab", "expand_vocab", {"model": base, "corpus": corpus, **texts})
        model = Ref("expand_vocab", "model")
    pools = {}
    for pool in ("arabic", "english", "translated", "heldout"):
        if pool != "translated" or a.cpt.use_translated:
            pools.update(b.texts(pool, f"allam.cpt.{pool}", a.cpt[pool]))
    b.add("cpt", "cpt", {"model": model, **pools})
    students: dict[str, Ref | str] = {"allam_base": base, "allam_cpt": Ref("cpt", "model")}
    if a.sft.enabled:
        students["allam_sft"] = sft_sources(b, cfg.data.translated, Ref("cpt", "model"), "data.translated", "sft",
                                            translated_mix(cfg))
        if cfg.dpo.enabled:
            students["allam_dpo"] = dpo(b, Ref("sft", "model"))
    lighteval(b, students)
    # The expanded model before any training: step 0 of the embedding-initialisation comparison.
    heldout(b, {**students, "allam_expanded": model} if a.expand.enabled else students)
    return b.steps
