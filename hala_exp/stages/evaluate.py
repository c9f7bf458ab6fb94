"""Stage 8: evaluate a model: EN->AR translation quality, and lighteval benchmarks.

Translation follows the paper's Table 2 protocol: n items sampled with a fixed seed, one chat turn
per item with the system's prompt, scored with BLEU (13a), chrF++ and ROUGE-L F1 against the
aligned Arabic. The items are MMLU questions aligned with openai/MMMLU (`eval.translation.mmlu`,
see `evaluation.mmlu_align`) or any aligned pairs (`eval.translation.source`). The sample depends
only on (ids, n, seed), so every system, process and machine translates the same items.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from hala_exp import stage_records
from hala_exp.data.paths import resolve_path
from hala_exp.data.snapshot import load_snapshot
from hala_exp.engines.backends import make_engine
from hala_exp.engines.base import sampling_from
from hala_exp.evaluation.metrics import sentence_scores, translation_scores
from hala_exp.json_files import write_json, write_jsonl
from hala_exp.row_translation import translate_texts
from hala_exp.stages.declaration import StageInfo, Weights, group_weights, plain, teacher_engine, without_empty

SAMPLE_ROWS = 40  # translated items shown as a table beside the scores


def sample_ids(ids: list[str], n: int, seed: int) -> list[str]:
    """n ids drawn with `random.Random(seed)` from the sorted ids: independent of row order and of
    Python's hash seed, so the same in any process."""
    if len(set(ids)) != len(ids):
        raise ValueError("translation source has duplicate ids; set eval.translation.source.id_field")
    return random.Random(seed).sample(sorted(ids), min(n, len(ids)))


def _prompt(cfg: DictConfig) -> str:
    """The system under test's prompt (`system.prompt`); without a `system`, `eval.translation.prompt`."""
    prompt = cfg.system.prompt if "system" in cfg else cfg.eval.translation.get("prompt")
    if not prompt or "{text}" not in prompt:
        raise ValueError(f"translation prompt {prompt!r} needs a {{text}} placeholder (set system.prompt)")
    return prompt


def run_translation(cfg: DictConfig, inputs: dict[str, str], out: Path) -> dict[str, float]:
    """Translate the sampled English items with `inputs["model"]` and score them against the Arabic."""
    tcfg = cfg.eval.translation
    if tcfg.get("mmlu"):
        from hala_exp.evaluation.mmlu_align import load_aligned

        rows = {r["id"]: r for r in load_aligned(tcfg.mmlu)}
    else:
        rows = {r["id"]: r for r in load_snapshot(inputs["source"])}  # eval.translation.source, checked
    ids = sample_ids(list(rows), tcfg.n, tcfg.seed)
    write_json(out / "sample_ids.json", ids)
    items = [rows[i] for i in ids]
    dtype = cfg.system.get("dtype", "auto") if "system" in cfg else "auto"  # not a fine-tune's saved float32
    engine = make_engine(cfg.engine, inputs["model"], dtype)
    try:
        gens = translate_texts(engine, [r["en"] for r in items], _prompt(cfg),
                               sampling_from(cfg.engine, tcfg.max_new_tokens))
    finally:
        engine.close()
    per_item = sentence_scores([g.text for g in gens], [r["ar"] for r in items])
    scored = [{"id": r["id"], "en": r["en"], "reference": r["ar"], "hypothesis": g.text, "finished": g.finished, **s}
              for r, g, s in zip(items, gens, per_item)]
    write_jsonl(out / "translations.jsonl", scored)
    stage_records.table("translation/samples", ["id", "source", "reference", "output", "bleu", "chrf"],
                        [[r["id"], r["en"], r["reference"], r["hypothesis"], r["bleu"], r["chrf"]]
                         for r in scored[:SAMPLE_ROWS]])
    scores = translation_scores([g.text for g in gens], [r["ar"] for r in items])
    return {**{f"translation.{k}": v for k, v in scores.items()}, "translation.n": float(len(items)),
            "translation.too_long": float(sum(g.too_long for g in gens))}  # scored as empty outputs


def score_rows(scores: dict[str, float], suite: str | None) -> list[list]:
    """[task, subset, metric, value] per flat lighteval score (subset "" for a task's own or mean
    score; a suite's roll-ups `<suite>.<task>` as metric "suite")."""
    rows = []
    for key, value in sorted(scores.items()):
        parts = key.split(".")
        if suite and parts[0] == suite and len(parts) == 2:
            rows.append([parts[1], "", "suite", value])
        elif len(parts) >= 2:
            rows.append([parts[0], ".".join(parts[1:-1]), parts[-1], value])
    return rows


def run_lighteval(cfg: DictConfig, inputs: dict[str, str], out: Path) -> dict[str, float]:
    """lighteval's tasks (`eval.lighteval`) on `inputs["model"]`; flat `task[.subset].metric` scores.

    With `inputs["shards"]` (the step's resumable folder) the tasks run in groups of
    `options.tasks_per_shard` (see `evaluation.lighteval_groups`), which the step's workers share.
    """
    from hala_exp.evaluation.lighteval_run import score_tasks as run
    from hala_exp.evaluation.suites import custom_sources, suite_scores

    lcfg = cfg.eval.lighteval
    if not lcfg.tasks:
        return {}
    data_dirs = {task: str(resolve_path(d)) for task, d in (lcfg.get("data_dirs") or {}).items()}
    kwargs = {"custom": custom_sources(lcfg), "max_samples": lcfg.max_samples,
              "batch_size": lcfg.batch_size, "device": cfg.engine.device, "exclude": list(lcfg.get("exclude") or []),
              "data_dirs": data_dirs, "dtype": cfg.engine.dtype}
    if "shards" in inputs:  # as a step: task groups committed one by one, maybe over several workers
        from hala_exp.evaluation.lighteval_groups import run_grouped

        per_shard = (cfg.get("options") or {}).get("tasks_per_shard")
        scores = run_grouped(inputs["model"], list(lcfg.tasks), out, Path(inputs["shards"]), per_shard, **kwargs)
    else:
        scores = run(inputs["model"], list(lcfg.tasks), out, **kwargs)
    if lcfg.get("suite"):
        scores.update(suite_scores(scores, list(lcfg.tasks), lcfg.suite, lcfg.metric))
    stage_records.table("eval/scores", ["task", "subset", "metric", "value"], score_rows(scores, lcfg.get("suite")))
    return scores


def translation_config(cfg: DictConfig, system: str, prompt: str, dtype: str) -> dict:
    """The protocol, the system's name, prompt and dtype (the model's configured one: a fine-tune is
    saved in float32), and the engine it runs on (the teacher's own for teachers). Aligned MMLU
    sides are read by the evaluation itself: their content joins the key."""
    tr_eval = plain(cfg.eval.translation)
    if cfg.eval.translation.get("mmlu"):
        tr_eval["mmlu_content"] = _mmlu_identity(cfg)
    engine = teacher_engine(cfg) if system.startswith("teacher") else plain(cfg.engine)
    return {"eval": {"translation": tr_eval}, "engine": engine,
            "system": {"name": system, "prompt": prompt, "dtype": dtype}}


def _mmlu_identity(cfg: DictConfig) -> dict:
    from hala_exp.data.content_keys import content_identity

    cache = Path(cfg.store).expanduser() / ".registry" / "hashes"
    return {side: content_identity(cfg.eval.translation.mmlu[side], cache) for side in ("en", "ar")}


CUSTOM_FIELDS = ("custom_tasks", "data_dir", "extra_custom_tasks")  # eval.lighteval's, and its key slice's


def keyed_custom(custom: list[dict[str, Any]]) -> dict[str, Any]:
    """`eval.lighteval.custom_tasks` as evaluation keys hold it, from when the first module and its data
    had fields of their own and the rest a second list (left out while empty): every evaluation keeps
    its key. `evaluation.suites.custom_sources` reads it back."""
    first, *rest = custom or [{"module": None, "data_dir": None}]
    return without_empty({"custom_tasks": first["module"], "data_dir": first.get("data_dir"),
                          "extra_custom_tasks": rest}, "extra_custom_tasks")


def lighteval_config(cfg: DictConfig) -> dict:
    # How the tasks are grouped changes only how the work is split, never a score: not in the key.
    settings = plain(cfg.eval.lighteval)
    lighteval = {k: v for k, v in settings.items() if k not in ("tasks_per_shard", *CUSTOM_FIELDS)}
    lighteval.update(keyed_custom(settings["custom_tasks"]))
    content = _custom_content(cfg)
    if content:
        lighteval["content"] = content
    return {"eval": {"lighteval": lighteval}, "engine": plain(cfg.engine)}


def _custom_content(cfg: DictConfig) -> dict[str, Any]:
    """What the user's own custom-task files and data directories hold, by path: a task's data is keyed
    by its bytes, so editing it re-scores. The bundled ones (`samples:`, modules of this package) change
    only with the code, under the stage's version, and stay out (their keys are unchanged)."""
    import importlib.util

    from hala_exp.data.content_keys import tree_identity

    lcfg = cfg.eval.lighteval
    paths: list[str] = []
    for module, data_dir in ((c["module"], c.get("data_dir")) for c in lcfg.get("custom_tasks") or []):
        if module and module.endswith(".py"):
            paths.append(module)
        elif module and not module.startswith(("samples:", "hala_exp.")):
            spec = importlib.util.find_spec(module)
            if spec is not None and spec.origin:
                paths.append(spec.origin)
        if data_dir:
            paths.append(data_dir)
    paths.extend((lcfg.get("data_dirs") or {}).values())
    cache = Path(cfg.store).expanduser() / ".registry" / "hashes"
    return {p: tree_identity(resolve_path(p), cache) for p in sorted(set(paths)) if not p.startswith("samples:")}


def translation_weights(cfg: DictConfig, config: dict) -> Weights | None:
    """The evaluated system's weights: the recipe's teacher (FP8 for `teacher_fp8`), translator or
    student; a compared checkpoint (`recipe=compare`) states no size."""
    if cfg.recipe == "compare":
        return None
    name = config["system"]["name"]
    if name.startswith("teacher"):
        return group_weights(cfg, "teacher", fp8=name == "teacher_fp8")
    return group_weights(cfg, "translator" if name.startswith("translator") else "model")


DECLARED = (StageInfo("evaluate_translation", 2, "hala_exp.stages.evaluate:run_translation", translation_config,
                      gpus="engine", stack="vllm", weights=translation_weights,
                      headline=("translation.bleu",)),
            # task groups committed one by one into its shards folder, shared by the step's workers;
            # lighteval's transformers back-end, one GPU a worker
            StageInfo("evaluate_lighteval", 3, "hala_exp.stages.evaluate:run_lighteval", lighteval_config,
                      partial="shards", options=lambda cfg, *_: {"tasks_per_shard": cfg.eval.lighteval.tasks_per_shard},
                      weights=lambda cfg, _: None if cfg.recipe == "compare" else group_weights(cfg, "model"),
                      headline=("*.average", "*.acc_norm", "*.acc")))
