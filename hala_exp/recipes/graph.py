"""The stage graph's parts (steps, inputs, the builder recipes use) and its keys; the recipes
(`hala_exp.recipes.build_graph`) build it from the config.

Each step names its stage and its inputs (other steps' outputs, or hub ids); the stage's
declaration (`hala_exp.stages.STAGES`) gives its function, version and the slice of config it
depends on. A step's key hashes exactly those, so a change re-runs the steps it reaches and
nothing else. This module only wires steps together; what a stage reads lives with the stage.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig

from hala_exp.stages import STAGES
from hala_exp.stages.declaration import micro_batch_option


@dataclass(frozen=True)
class Ref:
    """An input: a file or directory inside another step's output."""

    step: str
    sub: str


@dataclass(frozen=True)
class Step:
    name: str  # unique in the graph, e.g. "sft", "evaluate.student_merged"
    stage: str  # key of hala_exp.stages.STAGES
    fn: str  # the stage's function, `module:function`
    config: dict[str, Any]
    inputs: dict[str, Ref | str] = field(default_factory=dict)  # str: a hub id or local path
    # Input name under which the step gets a directory that survives kills and requeues (finished
    # shards, training checkpoints), or None for a step with nothing to resume.
    partial: str | None = None
    # Settings that change only the step's messages (warnings, the config key an error names), never
    # what it writes: handed to the stage under `messages` in its config, kept out of its key so
    # changing them re-runs nothing.
    messages: dict[str, Any] = field(default_factory=dict)
    # Settings that change how the step runs (memory, threads, shard size on disk), never the values
    # it writes: handed to the stage under `options`, kept out of its key.
    options: dict[str, Any] = field(default_factory=dict)
    # Bytes it is expected to write into the store (`disk_space`), None when unknown; not in its key.
    writes: int | None = None

    @property
    def version(self) -> int:
        return STAGES[self.stage].version

    @property
    def needs(self) -> list[str]:
        """The steps whose outputs it reads."""
        return sorted({v.step for v in self.inputs.values() if isinstance(v, Ref)})


class Builder:
    """Collects a recipe's steps; each step's config, function and partial come from its stage."""

    def __init__(self, cfg: DictConfig):
        self.cfg = cfg
        self.steps: list[Step] = []

    def add(self, name: str, stage: str, inputs: dict[str, Ref | str] | None = None, *args: Any,
            messages: dict[str, Any] | None = None) -> str:
        """Step `name` of `stage`, its key slice picked by the stage from the config (and `args`)."""
        from hala_exp.stages.sizes import step_bytes

        return self._put(name, stage, STAGES[stage].config(self.cfg, *args), inputs, messages,
                         step_bytes(self.cfg, STAGES[stage], *args), args)

    def _put(self, name: str, stage: str, config: dict[str, Any], inputs: dict[str, Ref | str] | None,
             messages: dict[str, Any] | None, writes: int | None = None, args: tuple[Any, ...] = ()) -> str:
        info = STAGES[stage]
        own_messages = info.messages(self.cfg) if info.messages else {}
        options = info.options(self.cfg, *args) if info.options else {}
        if info.trains is not None:
            options = {**options, **micro_batch_option(self.cfg, info.trains)}
        self.steps.append(Step(name, stage, info.fn, config, inputs or {}, info.partial,
                               {**own_messages, **(messages or {})}, options, writes))
        return name

    def source(self, name: str, key: str, kind: str, src: DictConfig, row_source: str = "") -> Ref:
        """`source.<name>`: the snapshot of the source at config key `key`, keyed by its content.

        `row_source` is what the rows' `source` column (and default ids) say; text and preference
        rows carry none, so the same text under two keys is one step.
        """
        config = STAGES["snapshot"].config(self.cfg, kind, src, row_source)
        for s in self.steps:
            if s.stage == "snapshot" and s.config == config:
                return Ref(s.name, "rows.parquet")
        self._put(f"source.{name}", "snapshot", config, None,
                  {"key": key, **({"streaming": True} if src.get("streaming") else {})})
        return Ref(f"source.{name}", "rows.parquet")

    def texts(self, prefix: str, key: str, sources: DictConfig) -> dict[str, Ref]:
        """Snapshot inputs `<prefix>.<label>` for a dict of text sources under config key `key`."""
        short = key.removeprefix("allam.").removeprefix("eval.").replace(".texts", "")
        return {f"{prefix}.{label}": self.source(f"{short}.{label}", f"{key}.{label}", "text", src)
                for label, src in sources.items()}

    def model(self, group: str, role: str, prompts: list[str] = ()) -> Ref | str:
        """A hub id / path as is, a step that converts the model's GGUF file (hub offline), or a
        step that builds the tiny model."""
        from hala_exp.models.gguf import uses_gguf

        m = self.cfg[group]
        if m.id != "tiny" and uses_gguf(m):
            return Ref(self.convert(group), "model")
        if m.id != "tiny":
            return m.id if m.revision is None else f"{m.id}@{m.revision}"
        return Ref(self.add(f"build.{role}", "build_model", None, group, list(prompts)), "model")

    def convert(self, group: str) -> str:
        """One conversion step per model, whichever roles use it, keyed by the GGUF file's bytes."""
        name = f"convert.{self.cfg[group].name}"
        if any(s.name == name for s in self.steps):
            return name
        return self.add(name, "convert_gguf", None, group)


def select(steps: list[Step], patterns: list[str]) -> list[Step]:
    """The steps matching any pattern (`targets`) and every step they need; all steps without patterns."""
    from hala_exp.config.errors import ConfigError

    if not patterns:
        return steps
    by_name = {s.name: s for s in steps}
    todo: list[str] = []
    for i, p in enumerate(patterns):
        hits = [n for n in by_name if fnmatch.fnmatchcase(n, p)]
        if not hits:
            raise ConfigError(f"targets[{i}] = {p!r}: matches no step of this graph. Fix: use step names "
                              f"or shell patterns of them: {', '.join(by_name)}")
        todo.extend(hits)
    wanted: set[str] = set()
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo.extend(v.step for v in by_name[name].inputs.values() if isinstance(v, Ref))
    return [s for s in steps if s.name in wanted]


def step_keys(steps: list[Step]) -> dict[str, str]:
    """Key of each step: hash of its stage, version, config slice and its inputs' keys."""
    keys: dict[str, str] = {}
    for s in steps:
        inputs = {k: ({"step_key": keys[v.step], "sub": v.sub} if isinstance(v, Ref) else v)
                  for k, v in sorted(s.inputs.items())}
        blob = json.dumps({"stage": s.stage, "version": s.version, "fn": s.fn, "config": s.config,
                           "inputs": inputs}, sort_keys=True, ensure_ascii=False)
        keys[s.name] = hashlib.sha256(blob.encode()).hexdigest()[:16]
    return keys
