"""Compose the config tree and check what types cannot: ranges, paths and dataset columns.

Everything here runs before any model loads, so a bad value costs a second, not a job.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from hala_exp.config.schema import register
from hala_exp.data.dedup import DEDUP_MODES
from hala_exp.data.paths import is_local_path, resolve_path
from hala_exp.data.sources import FORMATS
from hala_exp.engines.base import BACKENDS
from hala_exp.models.tiny import ARCHS
from hala_exp.training.launch import STRATEGIES

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


class ConfigError(ValueError):
    """A config value that cannot work; the message names the key, the value and the fix."""


def compose(overrides: list[str] | None = None) -> DictConfig:
    """Compose `conf/config.yaml` with overrides, outside a Hydra app (tests, tools)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    register()
    with initialize_config_dir(config_dir=str(CONF_DIR)):
        return hydra_compose(config_name="config", overrides=list(overrides or []))


def _fail(key: str, value: object, problem: str, fix: str) -> None:
    raise ConfigError(f"{key} = {value!r}: {problem}. Fix: {fix}")


def _check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        _fail(key, value, f"must be one of {', '.join(choices)}", f"set {key}={choices[0]}")


def _check_model(key: str, m: DictConfig) -> None:
    if m.id == "tiny":
        if m.tiny is None:
            _fail(f"{key}.id", m.id, f"'tiny' needs {key}.tiny (the architecture to build)",
                  f"add {key}.tiny or point {key}.id at a hub id or local directory")
        _check_choice(f"{key}.tiny.arch", m.tiny.arch, ARCHS)
        _check_choice(f"{key}.tiny.warmup", m.tiny.warmup, ("none", "translate", "judge"))
        for f in ("hidden_size", "layers", "heads", "vocab_size"):
            if m.tiny[f] <= 0:
                _fail(f"{key}.tiny.{f}", m.tiny[f], "must be positive", f"set {key}.tiny.{f} to e.g. 64")
    elif not _check_gguf(key, m) and is_local_path(m.id) and not resolve_path(m.id).exists():
        _fail(f"{key}.id", m.id, "this local model directory does not exist",
              "point it at a directory saved with save_pretrained, or use a hub id like LiquidAI/LFM2-350M")
    for f in ("learning_rate", "batch_size", "grad_accum", "max_length"):
        if m[f] <= 0:
            _fail(f"{key}.{f}", m[f], "must be positive", f"set {key}.{f} to a positive value")
    _check_choice(f"{key}.dtype", m.dtype, ("float32", "bfloat16", "float16"))


def _check_gguf(key: str, m: DictConfig) -> bool:
    """True when the model's weights come from its GGUF file, which then must be installed."""
    from hala_exp.models.gguf import SETUP_HINT, gguf_path, uses_gguf

    if m.get("gguf") is None:
        return False
    _check_choice(f"{key}.gguf.use", m.gguf.use, ("auto", "always", "never"))
    _check_choice(f"{key}.gguf.dtype", m.gguf.dtype, ("bfloat16", "float32", "float16"))
    if not uses_gguf(m):
        return False
    try:
        gguf_path(m.gguf.package, m.gguf.file)
    except FileNotFoundError as e:
        _fail(f"{key}.gguf.package", m.gguf.package, f"the hub is offline and {e}",
              f"{SETUP_HINT}, or set HF_HUB_OFFLINE=0 and {key}.gguf.use=never to download {m.id}")
    return True


def _check_merge(cfg: DictConfig) -> None:
    """`merge.method` and its parameters against mergekit's registry (cached per mergekit version)."""
    if cfg.merge.method == "none":
        return
    from hala_exp.merging.methods import method_specs, option_fields, option_problems, problems
    from hala_exp.pipeline.dispatch import interpreter_for

    python = interpreter_for(cfg.runtime, "merge")
    try:
        specs = method_specs(cfg.store, python)
        fields = option_fields(cfg.store, python)
    except RuntimeError as e:
        raise ConfigError(f"merge.method = {cfg.merge.method!r}: cannot be checked, {e}. Fix: install mergekit "
                          f"where the merge runs ({python or 'this environment'}), or set merge=none") from e
    found = problems(cfg.merge, specs) + option_problems(dict(cfg.merge.get("options") or {}), fields)
    if found:
        raise ConfigError("\n".join(found))


def _check_heldout(cfg: DictConfig, check_data: bool) -> None:
    h = cfg.eval.heldout
    for lang, src in h.texts.items():
        _check_text_source(f"eval.heldout.texts.{lang}", src, check_data)
    for f in ("batch_size", "max_length"):
        if h[f] <= 0:
            _fail(f"eval.heldout.{f}", h[f], "must be positive", f"set eval.heldout.{f}=16")


def _check_targets(cfg: DictConfig) -> None:
    """Each `targets` pattern names a step of the graph (the graph is built from config only)."""
    if cfg.targets:
        from hala_exp.pipeline.graph import build_graph

        build_graph(cfg)  # raises ConfigError naming the pattern that matches nothing


def _check_rows(key: str, src: DictConfig) -> None:
    if src.rows <= 0:
        _fail(f"{key}.rows", src.rows, "row counts must be positive",
              f"set {key}.rows to at least 1 (or drop the source)")
    if src.offset < 0:
        _fail(f"{key}.offset", src.offset, "must be 0 or more", f"set {key}.offset=0")
    _check_choice(f"{key}.format", src.format, FORMATS)
    from hala_exp.data.adapters import ADAPTERS, PARALLEL_ADAPTERS

    _check_choice(f"{key}.adapter", src.adapter, tuple(PARALLEL_ADAPTERS if "ar_field" in src else ADAPTERS))
    if "lang" in src:
        _check_choice(f"{key}.lang", src.lang, ("en", "ar"))
        if src.weight is not None and src.weight <= 0:
            _fail(f"{key}.weight", src.weight, "weights must be positive",
                  f"set {key}.weight to a positive share, or null to keep every row")
        if not 0.0 <= src.min_english_ratio <= 1.0:
            _fail(f"{key}.min_english_ratio", src.min_english_ratio, "must lie in [0, 1]",
                  f"set {key}.min_english_ratio=0.9 (or 0 to keep every row)")


def _check_data(data: DictConfig) -> None:
    """Mix and gate settings: choices and ranges."""
    mix, g = data.mix, data.gates
    _check_choice("data.mix.dedup", mix.dedup, DEDUP_MODES[::-1])  # the default first, in the fix
    if mix.arabic_ratio is not None and not 0.0 <= mix.arabic_ratio <= 1.0:
        _fail("data.mix.arabic_ratio", mix.arabic_ratio, "is a share and must lie in [0, 1]",
              "set data.mix.arabic_ratio=0.5 (half the SFT rows in Arabic, half in English), or null for Arabic only")
    if mix.bucket_rows <= 0:
        _fail("data.mix.bucket_rows", mix.bucket_rows, "must be positive", "set data.mix.bucket_rows=100000")
    weighted = [k for k, s in data.corpus.items() if s.weight is not None]
    if weighted and (mix.total_rows is None or mix.total_rows <= 0):
        _fail("data.mix.total_rows", mix.total_rows, f"sources {weighted} have weights, which share a total",
              "set data.mix.total_rows to the mix's size, or drop the weights and cap sources by rows")
    for f in ("min_arabic_ratio",):
        if not 0.0 <= g[f] <= 1.0:
            _fail(f"data.gates.{f}", g[f], "is a share and must lie in [0, 1]", f"set data.gates.{f}=0.5")
    for f, default in (("leak_min_words", 4), ("trailing_min_words", 3)):
        if g[f] < 0:
            _fail(f"data.gates.{f}", g[f], "is a word count and must be 0 (off) or more",
                  f"set data.gates.{f}={default}")
    if not 0.0 <= g.min_length_ratio < g.max_length_ratio:
        _fail("data.gates.min_length_ratio", g.min_length_ratio,
              f"must be at least 0 and below data.gates.max_length_ratio ({g.max_length_ratio})",
              "set data.gates.min_length_ratio=0.3 and data.gates.max_length_ratio=3.0")


def _check_eval(ev: DictConfig, check_data: bool) -> None:
    """The MMLU alignment sources and the lighteval roll-up / local data directories."""
    mmlu = ev.translation.get("mmlu")
    for side in ("en", "ar") if mmlu else ():
        key, src = f"eval.translation.mmlu.{side}", mmlu[side]
        _check_choice(f"{key}.format", src.format, FORMATS)
        if check_data and src.format != "hub" and not resolve_path(src.path).is_file():
            _fail(f"{key}.path", src.path, "this local file does not exist",
                  f"point it at a copy of the dataset's {src.split} split, or set {key}.format=hub")
    lcfg = ev.lighteval
    if lcfg.tasks_per_shard is not None and lcfg.tasks_per_shard < 1:
        _fail("eval.lighteval.tasks_per_shard", lcfg.tasks_per_shard, "a group holds at least one task",
              "set a positive count, or null to split the tasks evenly over the step's workers")
    for task, path in (lcfg.data_dirs or {}).items() if check_data else ():
        if not resolve_path(path).is_dir():
            _fail(f"eval.lighteval.data_dirs.{task}", path, "this local dataset directory does not exist",
                  "download the task's dataset repo there (huggingface-cli download --repo-type dataset)")
    for i, extra in enumerate(lcfg.extra_custom_tasks):
        key = f"eval.lighteval.extra_custom_tasks[{i}]"
        if extra.module == lcfg.custom_tasks or extra.module in [e.module for e in lcfg.extra_custom_tasks[:i]]:
            _fail(f"{key}.module", extra.module, "this custom-tasks module is already loaded; its task names "
                  "would be defined twice", f"drop {key}: a module is loaded once, with one data_dir")
        if check_data and extra.data_dir and not resolve_path(extra.data_dir).is_dir():
            _fail(f"{key}.data_dir", extra.data_dir, "this local data directory does not exist",
                  "point it at a folder of the module's jsonl files, or set it to null for the module's own data")


def _check_engine(e: DictConfig) -> None:
    _check_choice("engine.enable_prefix_caching", e.enable_prefix_caching, ("auto", "on", "off"))
    if e.shard_rows <= 0:
        _fail("engine.shard_rows", e.shard_rows, "must be positive", "set engine.shard_rows=512")
    if e.tensor_parallel_size <= 0:
        _fail("engine.tensor_parallel_size", e.tensor_parallel_size, "must be positive",
              "set it to the number of GPUs one model is split over (1, 2, 4 or 8)")
    if not 0.0 < e.gpu_memory_utilization <= 1.0:
        _fail("engine.gpu_memory_utilization", e.gpu_memory_utilization, "is a fraction of GPU memory in (0, 1]",
              "set engine.gpu_memory_utilization=0.9")
    if e.max_model_len is not None and e.max_model_len <= 0:
        _fail("engine.max_model_len", e.max_model_len, "must be positive", "set it to null or e.g. 4096")


def _check_runtime(cfg: DictConfig) -> None:
    from hala_exp.stages import STAGES

    rt = cfg.runtime
    for stage, env in rt.stages.items():
        if env is None:
            continue
        if stage not in STAGES:
            _fail(f"runtime.stages.{stage}", env, "is not a stage",
                  f"use one of {', '.join(sorted(STAGES))}")
        if env not in rt.envs and "/" not in env:
            _fail(f"runtime.stages.{stage}", env, "names no environment of runtime.envs and is not a path",
                  f"add runtime.envs.{env}=/path/to/python or give the interpreter's path")
    for name, python in rt.envs.items():
        if not Path(python).is_file():
            _fail(f"runtime.envs.{name}", python, "this interpreter does not exist",
                  f"create the environment (README: Runtimes) or set runtime.envs.{name}")
    if rt.gpus_per_node <= 0 or rt.nodes <= 0:
        _fail("runtime.gpus_per_node", rt.gpus_per_node, "GPU and node counts must be positive",
              "set runtime.gpus_per_node=1 runtime.nodes=1")
    _check_choice("train.distributed", cfg.train.distributed, ("auto", *STRATEGIES))


def _check_text_source(key: str, src: DictConfig, check_data: bool) -> None:
    if src.rows <= 0:
        _fail(f"{key}.rows", src.rows, "row counts must be positive", f"set {key}.rows to at least 1")
    if src.offset < 0:
        _fail(f"{key}.offset", src.offset, "must be 0 or more", f"set {key}.offset=0")
    _check_choice(f"{key}.format", src.format, (*FORMATS, "files"))
    if src.format != "files" and not src.fields:
        _fail(f"{key}.fields", list(src.fields), "names no column to read text from", f"set {key}.fields=[text]")
    if check_data:
        from hala_exp.allam.texts import check_text_source

        problem = check_text_source(key, src)
        if problem:
            _fail(f"{key}.path", src.path, problem,
                  f"point {key}.path at existing text and {key}.fields at its columns")


def _check_dpo(cfg: DictConfig, check_data: bool) -> None:
    d = cfg.dpo
    if d.beta <= 0:
        _fail("dpo.beta", d.beta, "must be positive", "use dpo.beta=0.1")
    for f in ("learning_rate", "batch_size", "grad_accum", "max_length"):
        if d[f] <= 0:
            _fail(f"dpo.{f}", d[f], "must be positive", f"set dpo.{f} to a positive value")
    if d.max_steps == 0:
        _fail("dpo.max_steps", d.max_steps, "training would do nothing", "set dpo.max_steps=-1 (one epoch) or more")
    src = d.preferences
    _check_choice("dpo.preferences.format", src.format, FORMATS)
    if src.rows <= 0:
        _fail("dpo.preferences.rows", src.rows, "must be positive", "set dpo.preferences.rows to at least 1")
    if check_data:
        from hala_exp.data.sources import check_columns

        problem = check_columns(src)
        if problem:
            _fail("dpo.preferences.path", src.path, problem, "name existing columns in dpo.preferences.*_field")


def _check_allam(cfg: DictConfig, check_data: bool) -> None:
    a = cfg.allam
    _check_model("model", cfg.model)
    if not a.fertility.texts:
        _fail("allam.fertility.texts", {}, "no text to measure fertility on", "add e.g. allam.fertility.texts.arabic")
    for lang, src in a.fertility.texts.items():
        _check_text_source(f"allam.fertility.texts.{lang}", src, check_data)
    e = a.expand
    if e.enabled:
        _check_choice("allam.expand.init", e.init, ("mean", "random"))
        if e.vocab_size <= 0:
            _fail("allam.expand.vocab_size", e.vocab_size, "must be positive", "set allam.expand.vocab_size=32000")
        _check_text_source("allam.expand.corpus", e.corpus, check_data)
    c = a.cpt
    if not 0.0 <= c.ratio <= 1.0:
        _fail("allam.cpt.ratio", c.ratio, "the Arabic share of the tokens must lie in [0, 1]",
              "use allam.cpt.ratio=0.45 (45% Arabic, 55% English)")
    if not 0.0 <= c.translated_fraction <= 1.0:
        _fail("allam.cpt.translated_fraction", c.translated_fraction, "must lie in [0, 1]",
              "use allam.cpt.translated_fraction=0.3")
    if c.ratio > 0 and not c.arabic and not (c.use_translated and c.translated_fraction == 1.0):
        _fail("allam.cpt.arabic", {}, f"ratio {c.ratio} asks for Arabic text but no source is given",
              "add a source under allam.cpt.arabic or set allam.cpt.ratio=0")
    if c.ratio < 1 and not c.english:
        _fail("allam.cpt.english", {}, f"ratio {c.ratio} asks for English text but no source is given",
              "add a source under allam.cpt.english or set allam.cpt.ratio=1")
    if c.use_translated and c.ratio > 0 and c.translated_fraction > 0 and not c.translated:
        _fail("allam.cpt.translated", {}, "use_translated is on but no translated source is given",
              "add a source under allam.cpt.translated or set allam.cpt.use_translated=false")
    if c.spike_threshold <= 1.0:
        _fail("allam.cpt.spike_threshold", c.spike_threshold, "a spike must exceed the running median",
              "use allam.cpt.spike_threshold=2.0")
    for f in ("tokens", "learning_rate", "batch_size", "grad_accum", "max_length", "max_steps", "spike_window"):
        if c[f] <= 0:
            _fail(f"allam.cpt.{f}", c[f], "must be positive", f"set allam.cpt.{f} to a positive value")
    for group in ("arabic", "english", "translated", "heldout"):
        if group == "translated" and not c.use_translated:
            continue
        for name, src in c[group].items():
            _check_text_source(f"allam.cpt.{group}.{name}", src, check_data)
    if a.sft.enabled:
        _check_allam_sft(cfg, check_data)


def _check_train(cfg: DictConfig, groups: tuple[str, ...]) -> None:
    """The `train` group, and each fine-tuned model's own overrides of it, must train at all."""
    if cfg.train.max_steps == 0 or cfg.train.epochs <= 0:
        _fail("train.max_steps", cfg.train.max_steps, "training would do nothing",
              "set train.max_steps=-1 (use epochs) or a positive number")
    for group in groups:
        own = cfg[group].train
        if own.max_steps == 0 or (own.epochs is not None and own.epochs <= 0):
            field_, value = ("max_steps", own.max_steps) if own.max_steps == 0 else ("epochs", own.epochs)
            _fail(f"{group}.train.{field_}", value, "that fine-tune would do nothing",
                  f"set {group}.train.{field_}=null (use train.{field_}) or a positive number")


def _check_allam_sft(cfg: DictConfig, check_data: bool) -> None:
    a = cfg.allam
    if not a.sft.sources:
        _fail("allam.sft.sources", {}, "the recipe's SFT has no instruction source", "add one under allam.sft.sources")
    _check_train(cfg, ("model",))
    for name, src in a.sft.sources.items():
        _check_rows(f"allam.sft.sources.{name}", src)
        if check_data:
            from hala_exp.data.sources import check_columns

            problem = check_columns(src)
            if problem:
                _fail(f"allam.sft.sources.{name}.path", src.path, problem,
                      f"name existing columns in allam.sft.sources.{name}.*_field")
    if cfg.dpo.enabled:
        _check_dpo(cfg, check_data)


def _check_common(cfg: DictConfig) -> None:
    """What every recipe uses: the engine, where stages run, the cluster, tracking, checkpoints."""
    _check_choice("engine.backend", cfg.engine.backend, BACKENDS)
    _check_engine(cfg.engine)
    _check_runtime(cfg)
    _check_choice("cluster.submit", cfg.cluster.submit, ("local", "slurm"))
    if cfg.cluster.max_requeues < 0:
        _fail("cluster.max_requeues", cfg.cluster.max_requeues, "must be >= 0", "use 0 to never requeue")
    _check_choice("logger.backend", cfg.logger.backend, ("none", "wandb"))
    _check_choice("logger.mode", cfg.logger.mode, ("offline", "online"))
    if cfg.train.save_steps < 0:
        _fail("train.save_steps", cfg.train.save_steps, "must be >= 0", "use 0 to keep no checkpoints")


def validate(cfg: DictConfig, check_data: bool = True) -> None:
    """Raise ConfigError on the first value that cannot work."""
    _check_choice("recipe", cfg.recipe, ("hala", "allam"))
    _check_choice("store_verify", cfg.store_verify, ("size", "hash"))
    _check_common(cfg)
    _check_heldout(cfg, check_data)
    if cfg.recipe == "allam":
        _check_allam(cfg, check_data)
    else:
        _check_hala(cfg, check_data)
    _check_targets(cfg)


def _check_hala(cfg: DictConfig, check_data: bool) -> None:
    if cfg.dpo.enabled:
        _check_dpo(cfg, check_data)
    for key in ("model", "teacher", "translator", "judge"):
        _check_model(key, cfg[key])
    if not 0.0 <= cfg.merge.t <= 1.0:
        _fail("merge.t", cfg.merge.t, "the slerp factor must lie in [0, 1]",
              "use merge.t=0.5 (0 keeps the base model, 1 the fine-tune)")
    _check_merge(cfg)
    if cfg.data.leave_out is not None and cfg.data.leave_out not in cfg.data.corpus:
        _fail("data.leave_out", cfg.data.leave_out, "is not a source of data.corpus",
              f"use one of {', '.join(cfg.data.corpus)} or null")
    if cfg.data.leave_out is not None and len(cfg.data.corpus) < 2:
        _fail("data.leave_out", cfg.data.leave_out, "would leave the mix empty", "set data.leave_out=null")
    if "{text}" not in cfg.teacher.prompt:
        _fail("teacher.prompt", cfg.teacher.prompt, "has no {text} placeholder", "add {text} where the English goes")
    if "{text}" not in cfg.translator.prompt:
        _fail("translator.prompt", cfg.translator.prompt, "has no {text} placeholder",
              "add {text} where the English goes")
    if not 0.0 <= cfg.judge.max_invalid_rate <= 1.0:
        _fail("judge.max_invalid_rate", cfg.judge.max_invalid_rate, "is a share and must lie in [0, 1]",
              "set judge.max_invalid_rate=0.2 (1 never warns)")
    for ph in ("{ar_text}", "{en_text}"):
        if ph not in cfg.judge.prompt:
            _fail("judge.prompt", cfg.judge.prompt[:40] + "...", f"has no {ph} placeholder", f"add {ph}")
    _check_train(cfg, ("model", "translator"))
    if cfg.eval.translation.n <= 0:
        _fail("eval.translation.n", cfg.eval.translation.n, "must be positive", "set eval.translation.n=500")
    _check_eval(cfg.eval, check_data)
    sources = {"data.bootstrap": cfg.data.bootstrap, "data.parallel": cfg.data.parallel,
               "eval.translation.source": cfg.eval.translation.source}
    if not cfg.data.corpus:
        _fail("data.corpus", {}, "the mix has no sources", "add at least one source under data.corpus")
    sources.update({f"data.corpus.{k}": v for k, v in cfg.data.corpus.items()})
    sources.update({f"data.translated.{k}": v for k, v in cfg.data.translated.items()})
    for key, src in sources.items():
        _check_rows(key, src)
    _check_data(cfg.data)
    if check_data:
        from hala_exp.data.sources import check_columns

        for key, src in sources.items():
            problem = check_columns(src)
            if problem:
                _fail(key + ".path", src.path, problem, f"name existing columns in {key}.*_field")
