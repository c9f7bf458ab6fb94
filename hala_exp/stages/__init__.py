"""Pipeline stages: each a function of (its config slice, its input artifacts) -> (output dir, metrics).

A stage never reads global state, never decides what ran before it, and never talks to W&B or
Slurm: the pipeline does that. Heavy libraries are imported inside the functions.

Each module declares its stages (`DECLARED`, see `info.StageInfo`); `STAGES` gathers them, and is
the one place the graph, the runner and the launchers learn a stage's version, key slice, what it
resumes from and whether it trains. The modules are imported on first use of `STAGES`, not with
this package: they read data files (pyarrow, numpy), which the CLI's start-up does not need.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping

from hala_exp.stages.declaration import StageInfo, Trains

MODULES = ("snapshot", "build_model", "convert_gguf", "quantize_teacher", "translate_bootstrap", "judge",
           "train_translator", "translate_corpus", "sft", "merge", "evaluate", "heldout", "dpo", "fertility",
           "expand_vocab", "cpt")


class _Registry(MutableMapping[str, StageInfo]):
    """Stage name -> its declaration, read from `MODULES` when first asked (writable for tests)."""

    def __init__(self) -> None:
        self._found: dict[str, StageInfo] | None = None

    def _all(self) -> dict[str, StageInfo]:
        if self._found is None:
            found: dict[str, StageInfo] = {}
            for name in MODULES:
                for s in importlib.import_module(f"hala_exp.stages.{name}").DECLARED:
                    if s.name in found:
                        raise RuntimeError(f"stage {s.name!r} is declared twice: {found[s.name].fn} and {s.fn}")
                    found[s.name] = s
            self._found = found
        return self._found

    def __getitem__(self, name: str) -> StageInfo:
        return self._all()[name]

    def __setitem__(self, name: str, info: StageInfo) -> None:
        self._all()[name] = info

    def __delitem__(self, name: str) -> None:
        del self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


STAGES: MutableMapping[str, StageInfo] = _Registry()

__all__ = ["MODULES", "STAGES", "StageInfo", "Trains"]
