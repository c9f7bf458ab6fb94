"""Stage 7: merge a fine-tune with its base model through mergekit (slerp at t = 0.5 by default).

The merge is described as a mergekit config (also saved as `mergekit.yaml`, so `mergekit-yaml` can
rerun it outside the framework) and run in-process with `run_merge`. Any method of mergekit's
registry works; which parameters go where comes from the method's spec (hala_exp/merging).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from hala_exp.data.paths import is_local_path, resolve_path
from hala_exp.merging.memory import merge_memory_gb, merged_gb
from hala_exp.stages.declaration import StageInfo, plain, without_empty


def _model_ref(path: str) -> str:
    """Absolute path for local models (mergekit then never asks the hub about them), else the hub id."""
    return str(resolve_path(path)) if is_local_path(path) else path


def _model(path: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"model": path, "parameters": params} if params else {"model": path}


def mergekit_config(merge: DictConfig, base: str, tuned: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The mergekit config as plain data, the same for `run_merge` and the saved YAML.

    `spec` is the method's entry of `hala_exp.merging.methods.read_registry()`. The base is
    `base_model` where mergekit's contract requires one, else one more model with its own weight
    (`base_is_model`); both models are listed, the base without the fine-tune-only parameters. `merge.t`
    goes in as it is given: a number, a gradient across layers, or filtered values (self_attn, mlp, a
    default). No `tokenizer_source`: with it mergekit resizes embeddings
    to the tokenizer's length (trimming padded vocab rows); without it the base's tokenizer files
    are copied as they are.
    """
    from hala_exp.merging.domains import t_problems
    from hala_exp.merging.methods import base_is_model, model_parameters, plain_setting, problems

    found = t_problems(plain_setting(merge.get("t", 0.5))) + problems(merge, {merge.method: spec})
    if found:
        raise ValueError("; ".join(found))
    shared, base_params, tuned_params = model_parameters(merge, spec)
    config: dict[str, Any] = {"merge_method": merge.method}
    if not base_is_model(spec):
        config["base_model"] = base
    config["models"] = [_model(base, base_params), _model(tuned, tuned_params)]
    if shared:
        config["parameters"] = shared
    config["dtype"] = str(merge.dtype)
    return config


@contextmanager
def _env(name: str, value: str | None) -> Iterator[None]:
    """Set an environment variable for the merge only: later stages in this process may need the hub."""
    old = os.environ.get(name)
    if value is not None:
        os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def _count_tensors(model_dir: Path) -> tuple[int, int]:
    from safetensors import safe_open

    tensors = params = 0
    for f in sorted(model_dir.glob("*.safetensors")):
        with safe_open(str(f), "pt") as st:
            names = st.keys()  # header only: no tensor data is read
            tensors += len(names)
            params += sum(math.prod(st.get_slice(k).get_shape()) for k in names)
    return tensors, params


def _options(cfg: DictConfig) -> dict[str, Any]:
    """merge.options for mergekit's MergeOptions (out of the key: they change memory and time only)."""
    from omegaconf import OmegaConf

    given = (cfg.get("options") or {}).get("mergekit")
    return dict(OmegaConf.to_container(given, resolve=True)) if given else {}


def run(cfg: DictConfig, inputs: dict[str, str], out: Path) -> dict[str, float]:
    """Merge `inputs["tuned"]` with `inputs["base"]` by `merge.method`; writes `out/model`."""
    import yaml

    from hala_exp.merging.methods import read_registry

    if cfg.merge.method == "none":
        raise ValueError("merge.method = 'none': there is nothing to merge (the graph has no merge step then)")
    registry = read_registry()
    if cfg.merge.method not in registry:
        raise ValueError(f"merge.method = {cfg.merge.method!r} is not a mergekit method: use one of {sorted(registry)}")
    base, tuned = _model_ref(inputs["base"]), _model_ref(inputs["tuned"])
    config = mergekit_config(cfg.merge, base, tuned, registry[cfg.merge.method])
    spec = yaml.safe_dump(config, sort_keys=False)
    (out / "mergekit.yaml").write_text(spec, encoding="utf-8")
    offline = is_local_path(inputs["base"]) and is_local_path(inputs["tuned"])
    with _env("HF_HUB_OFFLINE", "1" if offline else os.environ.get("HF_HUB_OFFLINE")):
        import torch
        from mergekit.config import MergeConfiguration
        from mergekit.merge import MergeOptions, run_merge

        device = "cuda" if torch.cuda.is_available() else "cpu"
        # The model card asks the hub about each model path (a crash offline); mergekit.yaml carries
        # the same information.
        options = MergeOptions(**_options(cfg), device=device, copy_tokenizer=True, write_model_card=False,
                               quiet=True)
        model_dir = out / "model"
        run_merge(MergeConfiguration.model_validate(config), out_path=str(model_dir), options=options)
    (model_dir / "mergekit_config.yml").write_text(spec, encoding="utf-8")  # provenance, as mergekit does
    tensors, params = _count_tensors(model_dir)
    t = cfg.merge.t  # a per-layer t (a list) is in the config, not a metric
    return {**({"t": float(t)} if isinstance(t, (int, float)) else {}), "tensors": float(tensors),
            "parameters": float(params)}


def key_config(cfg: DictConfig) -> dict:
    """Empty parameter maps stay out of the key (`without_empty`): a plain slerp keeps its key. A number
    `t` is a float (`merge.t=1` is 1.0, as when the schema typed it float); a per-layer `t` is its list."""
    from hala_exp.merging.methods import plain_setting

    merge = without_empty({k: v for k, v in plain(cfg.merge).items() if k != "options"})
    if "t" in merge:
        merge["t"] = plain_setting(merge["t"])
    return {"merge": merge}


DECLARED = (StageInfo("merge", 1, "hala_exp.stages.merge:run", key_config,
                      options=lambda cfg, *_: {"mergekit": plain(cfg.merge.options)}, memory_gb=merge_memory_gb,
                      writes_gb=merged_gb, gpus="none",
                      # a per-layer t is no number: then the size written
                      headline=("t", "parameters")),)
