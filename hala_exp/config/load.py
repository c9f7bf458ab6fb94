"""Compose the config tree and check what types cannot: ranges, paths and dataset columns.

Everything here runs before any model loads, so a bad value costs a second, not a job.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from hala_exp.config.schema import register
from hala_exp.data.paths import is_local_path, resolve_path

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
        _check_choice(f"{key}.tiny.arch", m.tiny.arch, ("lfm2", "llama"))
        _check_choice(f"{key}.tiny.warmup", m.tiny.warmup, ("none", "translate", "judge"))
        for f in ("hidden_size", "layers", "heads", "vocab_size"):
            if m.tiny[f] <= 0:
                _fail(f"{key}.tiny.{f}", m.tiny[f], "must be positive", f"set {key}.tiny.{f} to e.g. 64")
    elif is_local_path(m.id) and not resolve_path(m.id).exists():
        _fail(f"{key}.id", m.id, "this local model directory does not exist",
              "point it at a directory saved with save_pretrained, or use a hub id like LiquidAI/LFM2-350M")
    for f in ("learning_rate", "batch_size", "grad_accum", "max_length"):
        if m[f] <= 0:
            _fail(f"{key}.{f}", m[f], "must be positive", f"set {key}.{f} to a positive value")
    _check_choice(f"{key}.dtype", m.dtype, ("float32", "bfloat16", "float16"))


def _check_rows(key: str, src: DictConfig) -> None:
    if src.rows <= 0:
        _fail(f"{key}.rows", src.rows, "row counts must be positive",
              f"set {key}.rows to at least 1 (or drop the source)")
    if src.offset < 0:
        _fail(f"{key}.offset", src.offset, "must be 0 or more", f"set {key}.offset=0")
    _check_choice(f"{key}.format", src.format, ("hub", "jsonl", "tsv", "parquet"))


def validate(cfg: DictConfig, check_data: bool = True) -> None:
    """Raise ConfigError on the first value that cannot work."""
    for key in ("model", "teacher", "translator", "judge"):
        _check_model(key, cfg[key])
    if not 0.0 <= cfg.merge.t <= 1.0:
        _fail("merge.t", cfg.merge.t, "the slerp factor must lie in [0, 1]",
              "use merge.t=0.5 (0 keeps the base model, 1 the fine-tune)")
    _check_choice("merge.method", cfg.merge.method, ("slerp", "none"))
    _check_choice("engine.backend", cfg.engine.backend, ("transformers", "vllm"))
    _check_choice("logger.backend", cfg.logger.backend, ("none", "wandb"))
    _check_choice("cluster.submit", cfg.cluster.submit, ("local", "slurm"))
    if cfg.cluster.max_requeues < 0:
        _fail("cluster.max_requeues", cfg.cluster.max_requeues, "must be >= 0", "use 0 to never requeue")
    if cfg.train.save_steps < 0:
        _fail("train.save_steps", cfg.train.save_steps, "must be >= 0", "use 0 to keep no checkpoints")
    if "{text}" not in cfg.teacher.prompt:
        _fail("teacher.prompt", cfg.teacher.prompt, "has no {text} placeholder", "add {text} where the English goes")
    if "{text}" not in cfg.translator.prompt:
        _fail("translator.prompt", cfg.translator.prompt, "has no {text} placeholder",
              "add {text} where the English goes")
    for ph in ("{ar_text}", "{en_text}"):
        if ph not in cfg.judge.prompt:
            _fail("judge.prompt", cfg.judge.prompt[:40] + "...", f"has no {ph} placeholder", f"add {ph}")
    if cfg.train.max_steps == 0 or cfg.train.epochs <= 0:
        _fail("train.max_steps", cfg.train.max_steps, "training would do nothing",
              "set train.max_steps=-1 (use epochs) or a positive number")
    if cfg.eval.translation.n <= 0:
        _fail("eval.translation.n", cfg.eval.translation.n, "must be positive", "set eval.translation.n=500")
    sources = {"data.bootstrap": cfg.data.bootstrap, "data.parallel": cfg.data.parallel,
               "eval.translation.source": cfg.eval.translation.source}
    if not cfg.data.corpus:
        _fail("data.corpus", {}, "the mix has no sources", "add at least one source under data.corpus")
    sources.update({f"data.corpus.{k}": v for k, v in cfg.data.corpus.items()})
    for key, src in sources.items():
        _check_rows(key, src)
    if check_data:
        from hala_exp.data.sources import check_columns

        for key, src in sources.items():
            problem = check_columns(src)
            if problem:
                _fail(key + ".path", src.path, problem, f"name existing columns in {key}.*_field")
