"""The stage graph of the translate-and-tune recipe, built from the config.

Each step names the function it runs, the slice of config it depends on and its inputs (other
steps' outputs, or hub ids). A step's key hashes exactly those, plus the stage's version, so a
change re-runs the steps it reaches and nothing else.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf

# Bump a stage's version when its code changes what it writes: old outputs stop being reused.
VERSIONS = {"build_model": 1, "quantize_teacher": 2, "validate_teacher": 2, "translate_bootstrap": 3,
            "judge": 3, "train_translator": 2, "translate_corpus": 3, "sft": 1, "merge": 1,
            "evaluate_translation": 2, "evaluate_lighteval": 2, "dpo": 1, "fertility": 1, "expand_vocab": 1,
            "cpt": 2, "sft_sources": 1, "convert_gguf": 1, "evaluate_heldout": 1, "snapshot": 1}


@dataclass(frozen=True)
class Ref:
    """An input: a file or directory inside another step's output."""

    step: str
    sub: str


@dataclass
class Step:
    name: str  # unique in the graph, e.g. "sft", "evaluate.student_merged"
    stage: str  # key of VERSIONS; the function is hala_exp.stages.<module>:<func>
    fn: str
    config: dict[str, Any]
    inputs: dict[str, Ref | str] = field(default_factory=dict)  # str: a hub id or local path
    # Input name under which the step gets a directory that survives kills and requeues (finished
    # shards, training checkpoints), or None for a step with nothing to resume.
    partial: str | None = None
    # Settings that change only what the step reports (warnings), never what it writes: handed to the
    # stage under `report` in its config, kept out of its key so changing them re-runs nothing.
    report: dict[str, Any] = field(default_factory=dict)
    # Settings that change how the step runs (memory, threads, shard size on disk), never the values
    # it writes: handed to the stage under `options`, kept out of its key.
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> int:
        return VERSIONS[self.stage]


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def _pick(node: DictConfig, *keys: str) -> dict[str, Any]:
    return {k: _plain(node[k]) for k in keys}


def _train_with(train: DictConfig, overrides: DictConfig) -> dict[str, Any]:
    """The `train` group with one fine-tune's own settings (those not null) on top."""
    return {**_plain(train), **{k: v for k, v in _plain(overrides).items() if v is not None}}


def _sft_arabic_ratio(ratio: float | None) -> float | None:
    """null and 1.0 both mean an all-Arabic SFT set: one key, so the default run is reused."""
    return None if ratio is None or ratio >= 1.0 else float(ratio)


class _Builder:
    def __init__(self, cfg: DictConfig):
        self.cfg = cfg
        self.steps: list[Step] = []

    def add(self, name: str, stage: str, fn: str, config: dict[str, Any],
            inputs: dict[str, Ref | str] | None = None, partial: str | None = None,
            report: dict[str, Any] | None = None, options: dict[str, Any] | None = None) -> str:
        self.steps.append(Step(name, stage, fn, config, inputs or {}, partial, report or {}, options or {}))
        return name

    def source(self, name: str, key: str, kind: str, src: DictConfig, row_source: str = "") -> Ref:
        """`source.<name>`: the snapshot of the source at config key `key`, keyed by its content.

        `row_source` is what the rows' `source` column (and default ids) say; text and preference
        rows carry none, so the same text under two keys is one step.
        """
        from pathlib import Path

        from hala_exp.data.identity import content_identity

        config = {"kind": kind, "name": row_source, "source": _plain(src),
                  "content": content_identity(src, Path(self.cfg.store).expanduser() / ".registry" / "hashes")}
        for s in self.steps:
            if s.stage == "snapshot" and s.config == config:
                return Ref(s.name, "rows.parquet")
        self.add(f"source.{name}", "snapshot", "hala_exp.stages.snapshot:run", config, report={"key": key})
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
            return Ref(self.convert(m), "model")
        if m.id != "tiny":
            return m.id if m.revision is None else f"{m.id}@{m.revision}"
        config = {"model": _pick(m, "name", "tiny", "learning_rate", "batch_size", "grad_accum",
                                 "max_length", "dtype")}
        if m.tiny.warmup != "none":
            config["prompts"] = list(prompts)
        name = self.add(f"build.{role}", "build_model", "hala_exp.stages.build_model:run", config)
        return Ref(name, "model")

    def convert(self, m: DictConfig) -> str:
        """One conversion step per model, whichever roles use it, keyed by the GGUF file's bytes."""
        from hala_exp.models.gguf import file_hash, gguf_path

        name = f"convert.{m.name}"
        if any(s.name == name for s in self.steps):
            return name
        g = m.gguf
        return self.add(name, "convert_gguf", "hala_exp.stages.convert_gguf:run",
                        {"gguf": {"package": g.package, "file": g.file, "dtype": g.dtype,
                                  "xxh3_128": file_hash(gguf_path(g.package, g.file))}})

    def sft_sources(self, sources: DictConfig, model: Ref | str) -> Ref:
        """The student's SFT on instruction sources read as they are (no translation chain)."""
        cfg = self.cfg
        allam = cfg.get("recipe") == "allam"
        where, short = ("allam.sft.sources", "sft") if allam else ("data.translated", "translated")
        snaps = {f"source.{n}": self.source(f"{short}.{n}", f"{where}.{n}", "chat", src, n)
                 for n, src in sources.items()}
        self.add("sft", "sft_sources", "hala_exp.stages.sft:run_sources",
                 {"model": _pick(cfg.model, "learning_rate", "batch_size", "grad_accum", "max_length"),
                  "train": _train_with(cfg.train, cfg.model.train), "sources": _plain(sources)},
                 {"model": model, **snaps}, partial="checkpoints")
        return Ref("sft", "model")

    def heldout(self, systems: dict[str, Ref | str]) -> None:
        """`heldout.<system>`: held-out loss per language for each system, when eval.heldout has texts."""
        h, engine = self.cfg.eval.heldout, self.cfg.engine
        if not h.texts:
            return
        texts = self.texts("text", "eval.heldout.texts", h.texts)
        for system, model in systems.items():
            self.add(f"heldout.{system}", "evaluate_heldout", "hala_exp.stages.heldout:run",
                     {"heldout": _plain(h), "engine": _pick(engine, "device", "dtype")}, {"model": model, **texts})


def _dpo(b: _Builder, tuned: Ref | str) -> Ref:
    """The optional preference stage after SFT; returns the aligned model."""
    d = b.cfg.dpo
    b.add("dpo", "dpo", "hala_exp.stages.dpo:run",
          {"dpo": _pick(d, "preferences", "beta", "loss_type", "learning_rate", "batch_size", "grad_accum",
                        "max_length", "max_steps", "use_cpu", "bf16", "seed")},
          {"model": tuned, "preferences": b.source("preferences", "dpo.preferences", "preferences", d.preferences)})
    return Ref("dpo", "model")


def _lighteval(b: _Builder, students: dict[str, Ref | str]) -> None:
    engine = _plain(b.cfg.engine)
    # `extra_custom_tasks` came later: left out while empty, so suites without it keep their keys
    # How the tasks are grouped changes only how the work is split, never a score: not in the key.
    lighteval = {k: v for k, v in _plain(b.cfg.eval.lighteval).items()
                 if (k != "extra_custom_tasks" or v) and k != "tasks_per_shard"}
    if b.cfg.eval.lighteval.tasks:
        for system, model in students.items():
            b.add(f"evaluate.{system}", "evaluate_lighteval", "hala_exp.stages.evaluate:run_lighteval",
                  {"eval": {"lighteval": lighteval}, "engine": engine},
                  {"model": model}, partial="shards",
                  options={"tasks_per_shard": b.cfg.eval.lighteval.tasks_per_shard})


def build_allam_graph(cfg: DictConfig) -> list[Step]:
    """ALLaM studies: fertility -> expand_vocab -> cpt -> sft -> dpo -> evaluate (sft, dpo optional)."""
    b = _Builder(cfg)
    a = cfg.allam
    base = b.model("model", "student_base")
    tokenizers: dict[str, Ref | str] = {"base": base, **{f"tok.{k}": v for k, v in a.fertility.tokenizers.items()}}
    texts = b.texts("text", "allam.fertility.texts", a.fertility.texts)
    b.add("fertility", "fertility", "hala_exp.stages.fertility:run",
          {"texts": _plain(a.fertility.texts)}, {**tokenizers, **texts})
    model: Ref | str = base
    if a.expand.enabled:
        corpus = b.source("expand.corpus", "allam.expand.corpus", "text", a.expand.corpus)
        b.add("expand_vocab", "expand_vocab", "hala_exp.stages.expand_vocab:run",
              {"expand": _pick(a.expand, "corpus", "vocab_size", "init", "seed"),
               "texts": _plain(a.fertility.texts)}, {"model": base, "corpus": corpus, **texts})
        model = Ref("expand_vocab", "model")
    pools = {}
    for pool in ("arabic", "english", "translated", "heldout"):
        if pool != "translated" or a.cpt.use_translated:
            pools.update(b.texts(pool, f"allam.cpt.{pool}", a.cpt[pool]))
    b.add("cpt", "cpt", "hala_exp.stages.cpt:run", {"cpt": _plain(a.cpt)}, {"model": model, **pools})
    students: dict[str, Ref | str] = {"allam_base": base, "allam_cpt": Ref("cpt", "model")}
    if a.sft.enabled:
        students["allam_sft"] = b.sft_sources(a.sft.sources, Ref("cpt", "model"))
        if cfg.dpo.enabled:
            students["allam_dpo"] = _dpo(b, Ref("sft", "model"))
    _lighteval(b, students)
    # The expanded model before any training: step 0 of the embedding-initialisation comparison.
    b.heldout({**students, "allam_expanded": model} if a.expand.enabled else students)
    return b.steps


def select(steps: list[Step], patterns: list[str]) -> list[Step]:
    """The steps matching any pattern (`targets`) and every step they need; all steps without patterns."""
    from hala_exp.config.load import ConfigError

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


def build_graph(cfg: DictConfig) -> list[Step]:
    """Steps in an order where every input comes before its consumer (only those `targets` need).

    Source snapshots come first: no model step starts until every source has been read and checked.
    """
    recipe = build_allam_graph if cfg.get("recipe", "hala") == "allam" else build_hala_graph
    steps = select(recipe(cfg), list(cfg.get("targets") or []))
    return [s for s in steps if s.stage == "snapshot"] + [s for s in steps if s.stage != "snapshot"]


def _translation_chain(b: _Builder) -> tuple[Ref, dict[str, tuple[Ref | str, str]]]:
    """Stages 1-5: the teacher (FP8), bootstrap translation, judge, translator and the corpus it
    translates. Returns the corpus and the translation systems to evaluate (model, prompt)."""
    cfg = b.cfg
    engine = _plain(cfg.engine)
    tr_eval = _plain(cfg.eval.translation)
    teacher_prompts = [cfg.teacher.prompt, cfg.eval.translation.prompt]

    teacher_engine = _teacher_engine(cfg)
    teacher = b.model("teacher", "teacher", teacher_prompts)
    systems: dict[str, tuple[Ref | str, str]] = {"teacher": (teacher, cfg.eval.translation.prompt)}
    teacher_used = teacher
    if cfg.teacher.fp8:
        probe = {"teacher": _pick(cfg.teacher, "quant_scheme", "quant_ignore", "prompt", "max_new_tokens",
                                  "probe_rows", "dtype"),
                 "probe": tr_eval["source"]}
        # llm-compressor and vLLM live in different environments: compressing (with a logits check)
        # and translating the probe set through the engine are two steps.
        probe_rows = b.source("translation", "eval.translation.source", "parallel", cfg.eval.translation.source,
                              "translation")
        b.add("quantize_teacher", "quantize_teacher", "hala_exp.stages.quantize_teacher:run",
              {**probe, "engine": {"device": engine["device"]}}, {"model": teacher, "probe": probe_rows})
        teacher_used = Ref("quantize_teacher", "model")
        b.add("validate_teacher", "validate_teacher", "hala_exp.stages.quantize_teacher:run_validate",
              {**probe, "engine": teacher_engine}, {"model": teacher, "fp8": teacher_used, "probe": probe_rows})
        systems["teacher_fp8"] = (teacher_used, cfg.eval.translation.prompt)

    b.add("translate_bootstrap", "translate_bootstrap", "hala_exp.stages.translate_bootstrap:run",
          {"teacher": _pick(cfg.teacher, "prompt", "max_new_tokens", "dtype"),
           "source": _plain(cfg.data.bootstrap), "gates": _plain(cfg.data.gates), "engine": teacher_engine},
          {"model": teacher_used,
           "source": b.source("bootstrap", "data.bootstrap", "chat", cfg.data.bootstrap, "bootstrap")},
          partial="shards")

    judge = b.model("judge", "judge", [cfg.judge.prompt])
    b.add("judge", "judge", "hala_exp.stages.judge:run",
          {"judge": _pick(cfg.judge, "prompt", "max_new_tokens", "dtype"),
           "source": _plain(cfg.data.parallel), "engine": engine},
          {"model": judge, "source": b.source("parallel", "data.parallel", "parallel", cfg.data.parallel, "parallel")},
          partial="shards", report={"max_invalid_rate": cfg.judge.max_invalid_rate})

    translator_base = b.model("translator", "translator_base", [cfg.eval.translation.prompt, cfg.translator.prompt])
    systems["translator_base"] = (translator_base, cfg.eval.translation.prompt)
    b.add("train_translator", "train_translator", "hala_exp.stages.train_translator:run",
          {"translator": _pick(cfg.translator, "prompt", "learning_rate", "batch_size", "grad_accum",
                               "max_length"),
           "train": _train_with(cfg.train, cfg.translator.train), "seed": cfg.data.seed},
          {"model": translator_base, "tuples": Ref("translate_bootstrap", "tuples.jsonl"),
           "accepted": Ref("judge", "accepted.jsonl")}, partial="checkpoints")
    translator = Ref("train_translator", "model")
    systems["translator"] = (translator, cfg.translator.prompt)

    corpus_snaps = {f"corpus.{k}": b.source(f"corpus.{k}", f"data.corpus.{k}", "chat", v, k)
                    for k, v in cfg.data.corpus.items() if k != cfg.data.leave_out}
    b.add("translate_corpus", "translate_corpus", "hala_exp.stages.translate_corpus:run",
          {"translator": _pick(cfg.translator, "prompt", "max_new_tokens", "dtype"),
           "corpus": {k: v for k, v in _plain(cfg.data.corpus).items() if k != cfg.data.leave_out},
           "mix": {k: v for k, v in _plain(cfg.data.mix).items() if k != "arabic_ratio"},  # SFT's, below
           "gates": _plain(cfg.data.gates),
           "seed": cfg.data.seed, "engine": engine},
          {"model": translator, **corpus_snaps}, partial="shards")
    return Ref("translate_corpus", "corpus.jsonl"), systems


def build_hala_graph(cfg: DictConfig) -> list[Step]:
    """Translate-and-tune: stages 1-5 (unless `data.translated` gives the Arabic data), then the
    student's SFT, the optional DPO, the merge with its base, and every evaluation."""
    b = _Builder(cfg)
    engine = _plain(cfg.engine)
    systems: dict[str, tuple[Ref | str, str]] = {}
    if cfg.data.translated:
        student = b.model("model", "student_base")
        b.sft_sources(cfg.data.translated, student)
    else:
        corpus, systems = _translation_chain(b)
        student = b.model("model", "student_base")
        b.add("sft", "sft", "hala_exp.stages.sft:run",
              {"model": _pick(cfg.model, "learning_rate", "batch_size", "grad_accum", "max_length"),
               "train": _train_with(cfg.train, cfg.model.train),
               "arabic_ratio": _sft_arabic_ratio(cfg.data.mix.arabic_ratio), "seed": cfg.data.seed},
              {"model": student, "corpus": corpus}, partial="checkpoints")
    students: dict[str, Ref | str] = {"student_base": student, "student_sft": Ref("sft", "model")}
    tuned: Ref | str = Ref("sft", "model")
    if cfg.dpo.enabled:
        tuned = students["student_dpo"] = _dpo(b, tuned)
    if cfg.merge.method != "none":
        # Empty parameter maps stay out of the key: a plain slerp keeps the key it always had.
        merge = {k: v for k, v in _plain(cfg.merge).items() if v != {} and k != "options"}
        b.add("merge", "merge", "hala_exp.stages.merge:run", {"merge": merge}, {"base": student, "tuned": tuned},
              options={"mergekit": _plain(cfg.merge.options)})
        students["student_merged"] = Ref("merge", "model")

    tr_eval = _plain(cfg.eval.translation)
    teacher_engine = _teacher_engine(cfg)
    pairs: dict[str, Ref] = {}
    if systems:
        if cfg.eval.translation.get("mmlu"):
            tr_eval["mmlu_content"] = _mmlu_identity(cfg)
        else:
            pairs["source"] = b.source("translation", "eval.translation.source", "parallel",
                                       cfg.eval.translation.source, "translation")
    for system, (model, prompt) in systems.items():
        b.add(f"evaluate.{system}", "evaluate_translation", "hala_exp.stages.evaluate:run_translation",
              {"eval": {"translation": tr_eval}, "engine": teacher_engine if system.startswith("teacher") else engine,
               "system": {"name": system, "prompt": prompt}},
              {"model": model, **pairs})
    _lighteval(b, students)
    b.heldout({**{s: m for s, (m, _) in systems.items()}, **students})
    return b.steps


def _mmlu_identity(cfg: DictConfig) -> dict[str, Any]:
    """The aligned MMLU sides are read by the evaluation itself: their files' hashes join its key."""
    from pathlib import Path

    from hala_exp.data.identity import content_identity

    cache = Path(cfg.store).expanduser() / ".registry" / "hashes"
    return {side: content_identity(cfg.eval.translation.mmlu[side], cache) for side in ("en", "ar")}


def _teacher_engine(cfg: DictConfig) -> dict[str, Any]:
    """The engine with the teacher's own tensor-parallel size, when it sets one."""
    engine = _plain(cfg.engine)
    tp = cfg.teacher.tensor_parallel_size
    return engine if tp is None else {**engine, "tensor_parallel_size": tp}


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
