"""Checks of the evaluation group: MMLU alignment sources, lighteval data, held-out texts."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from hala_exp.config.checks.sources import check_directory, check_local_file, check_text_source
from hala_exp.config.errors import check_choice, fail
from hala_exp.data.paths import resolve_path
from hala_exp.data.sources import FORMATS


def check_eval(ev: DictConfig, check_data: bool) -> None:
    """The MMLU alignment sources and the lighteval roll-up / local data directories."""
    mmlu = ev.translation.get("mmlu")
    for side in ("en", "ar") if mmlu else ():
        key, src = f"eval.translation.mmlu.{side}", mmlu[side]
        check_choice(f"{key}.format", src.format, FORMATS)
        if check_data and src.format != "hub" and not resolve_path(src.path).exists():
            fail(f"{key}.path", src.path, "this local file does not exist",
                 f"point it at a copy of the dataset's {src.split} split, or set {key}.format=hub")
        if check_data:
            check_local_file(key, src)
    lcfg = ev.lighteval
    if lcfg.tasks_per_shard is not None and lcfg.tasks_per_shard < 1:
        fail("eval.lighteval.tasks_per_shard", lcfg.tasks_per_shard, "a group holds at least one task",
             "set a positive count, or null to split the tasks evenly over the step's workers")
    for task, path in (lcfg.data_dirs or {}).items() if check_data else ():
        if not resolve_path(path).exists():
            fail(f"eval.lighteval.data_dirs.{task}", path, "this local dataset directory does not exist",
                 "download the task's dataset repo there (huggingface-cli download --repo-type dataset)")
        check_directory(f"eval.lighteval.data_dirs.{task}", path)
    for old in ("data_dir", "extra_custom_tasks"):
        value = lcfg.get(old)
        if value is not None:
            value = OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
            fail(f"eval.lighteval.{old}", value, "is no longer a setting: every custom-tasks "
                 "module and its data are one entry of eval.lighteval.custom_tasks",
                 f"remove eval.lighteval.{old} and list the modules as custom_tasks: [{{module: ..., data_dir: "
                 "...}, ...]")
    for i, custom in enumerate(lcfg.custom_tasks):
        key = f"eval.lighteval.custom_tasks[{i}]"
        if custom.module in [e.module for e in lcfg.custom_tasks[:i]]:
            fail(f"{key}.module", custom.module, "this custom-tasks module is already loaded; its task names "
                 "would be defined twice", f"drop {key}: a module is loaded once, with one data_dir")
        if check_data and custom.data_dir and not resolve_path(custom.data_dir).exists():
            fail(f"{key}.data_dir", custom.data_dir, "this local data directory does not exist",
                 "point it at a folder of the module's jsonl files, or set it to null for the module's own data")
        if check_data and custom.data_dir:
            check_directory(f"{key}.data_dir", custom.data_dir)


def check_heldout(cfg: DictConfig, check_data: bool) -> None:
    h = cfg.eval.heldout
    for lang, src in h.texts.items():
        check_text_source(f"eval.heldout.texts.{lang}", src, check_data)
    for f in ("batch_size", "max_length"):
        if h[f] <= 0:
            fail(f"eval.heldout.{f}", h[f], "must be positive", f"set eval.heldout.{f}=16")
