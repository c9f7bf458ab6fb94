"""Pipeline stages: each a function of (its config slice, its input artifacts) -> (output dir, metrics).

A stage never reads global state, never decides what ran before it, and never talks to W&B or
Slurm: the pipeline does that. Heavy libraries are imported inside the functions.

Each module declares its stages (`DECLARED`, see `info.StageInfo`); `STAGES` gathers them, and is
the one place the graph, the runner and the launchers learn a stage's version, key slice, what it
resumes from and whether it trains.
"""

from __future__ import annotations

from hala_exp.stages import (
    build_model,
    convert_gguf,
    cpt,
    dpo,
    evaluate,
    expand_vocab,
    fertility,
    heldout,
    judge,
    merge,
    quantize_teacher,
    sft,
    snapshot,
    train_translator,
    translate_bootstrap,
    translate_corpus,
)
from hala_exp.stages.info import StageInfo, Trains

_MODULES = (snapshot, build_model, convert_gguf, quantize_teacher, translate_bootstrap, judge, train_translator,
            translate_corpus, sft, merge, evaluate, heldout, dpo, fertility, expand_vocab, cpt)



def _registry() -> dict[str, StageInfo]:
    found: dict[str, StageInfo] = {}
    for m in _MODULES:
        for s in m.DECLARED:
            if s.name in found:
                raise RuntimeError(f"stage {s.name!r} is declared twice: {found[s.name].fn} and {s.fn}")
            found[s.name] = s
    return found


STAGES: dict[str, StageInfo] = _registry()

__all__ = ["STAGES", "StageInfo", "Trains"]
