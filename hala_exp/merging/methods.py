"""What each of mergekit's merge methods accepts, read from mergekit's registry and cached.

`merge.method` is any method mergekit registers (slerp, linear, task_arithmetic, ties, dare_ties,
della, ...). Its parameter specs (name, scope, required) and input contract (base policy, model counts)
come from `mergekit.merge_methods.registry`,
so a new mergekit method needs no code here. Importing mergekit costs seconds (it imports torch), and
validation runs at every start-up: the specs are read in a child process and cached per mergekit
install in the user's cache (`$HALA_EXP_CACHE`, else `$XDG_CACHE_HOME/hala-exp`, else
`~/.cache/hala-exp`), so a fresh store, a new sweep point or a Slurm job's start reads a file.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from hala_exp.cache_dir import cache_dir

# scope of a parameter: "shared" (the method's `parameters`), "non_base" (each model but the base),
# "input" (every model); base policy: "required", "optional", "ignored" or "forbidden"; inputs: how many
# models mergekit's contract takes in all ("min", "max") and besides the base ("min_non_base",
# "max_non_base"), None where it sets no bound.
Specs = dict[str, dict[str, Any]]


def read_registry() -> Specs:
    """{method: {"base": policy, "inputs": {min, max, min_non_base, max_non_base}, "parameters": {name:
    {"scope", "required", "default"}}}} (imports mergekit)."""
    from mergekit.merge_methods import registry

    out: Specs = {}
    for method in registry.registered_methods():
        spec = method.spec
        params = {}
        for p in spec.parameters:
            required = type(p.default) is object  # mergekit's "no default" sentinel
            default = None if required or not isinstance(p.default, (bool, int, float, str)) else p.default
            params[p.name] = {"scope": p.scope.value, "required": required, "default": default}
        c = spec.contract
        out[spec.name] = {"base": c.base.value, "parameters": params,
                          "inputs": {"min": c.min_inputs, "max": c.max_inputs, "min_non_base": c.min_non_base,
                                     "max_non_base": c.max_non_base}}
    return out


# Options the merge stage sets itself: what it needs to write a model the pipeline can read.
STAGE_OPTIONS = ("device", "cuda", "copy_tokenizer", "write_model_card", "quiet", "verbosity")


def read_options() -> dict[str, Any]:
    """mergekit's MergeOptions fields and their defaults (imports mergekit)."""
    from mergekit.merge import MergeOptions

    return {name: f.default if isinstance(f.default, (bool, int, float, str, type(None))) else None
            for name, f in MergeOptions.model_fields.items()}


def method_specs(python: str | None = None) -> Specs:
    """The registry of the merge stage's interpreter (`python`, None: this one)."""
    return _mergekit(python)["methods"]


def option_fields(python: str | None = None) -> dict[str, Any]:
    """MergeOptions' fields (name: default) in the merge stage's interpreter."""
    return _mergekit(python)["options"]


def _cache_file() -> Path:
    """This interpreter's mergekit install: its version and where it lives (two venvs, two files)."""
    dist = metadata.distribution("mergekit")
    where = hashlib.sha256(f"{sys.executable}|{dist.locate_file('')}".encode()).hexdigest()[:12]
    return cache_dir() / f"mergekit-{dist.version}-{where}-v3.json"  # v3: the input contract


@functools.cache  # once per process and interpreter: validation asks for methods and options
def _mergekit(python: str | None) -> dict[str, Any]:
    """{"methods": registry, "options": MergeOptions fields} of the merge stage's interpreter.

    Read in a child process, so validation and `plan=true` never import torch here; this
    interpreter's answer is then cached (see the module's docstring). Another interpreter's is
    read every time: its packages are not this one's to look up.
    """
    cache = None
    if python is None:
        cache = _cache_file()
        try:
            return json.loads(cache.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # absent, or cut short by hand: read it again
            pass
    proc = subprocess.run([python or sys.executable, "-m", "hala_exp.merging.methods"], capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"reading mergekit's merge methods failed: {proc.stderr.strip()[-1000:]}")
    specs = json.loads(proc.stdout.strip().splitlines()[-1])
    if cache is not None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
        except OSError:  # a read-only home: the answer is still right, only not kept
            return specs
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(specs, sort_keys=True), encoding="utf-8")
        os.replace(tmp, cache)
    return specs


def uses_t(spec: dict[str, Any]) -> bool:
    """Whether `merge.t` reaches this method: as its shared `t`, or as the fine-tune's `weight`."""
    params = spec["parameters"]
    return "t" in params or "weight" in params


def base_is_model(spec: dict[str, Any]) -> bool:
    """Whether the base goes in as one of the models merged (with its own weight where the method
    weighs models) rather than as `base_model`, by the base policy of mergekit's contract.

    required: `base_model` (the fine-tune is measured from it). ignored / forbidden: a model like the
    fine-tune (linear's `1 - t` average, karcher's mean). optional (nuslerp, multislerp): a model too,
    so the merge interpolates between the two: nuslerp takes exactly two non-base models, and
    multislerp around a `base_model` with one fine-tune of normalised weight returns the fine-tune
    whatever `t` is.
    """
    return spec["base"] != "required"


def input_problem(method: str, spec: dict[str, Any]) -> str | None:
    """A sentence when mergekit's contract for `method` cannot take the two models a merge step has."""
    bounds = spec.get("inputs") or {}
    non_base = 2 if base_is_model(spec) else 1
    for n, lo, hi, what in ((2, "min", "max", "models"), (non_base, "min_non_base", "max_non_base",
                                                          "models besides the base")):
        low, high = bounds.get(lo), bounds.get(hi)
        if (low is not None and n < low) or (high is not None and n > high):
            wants = f"exactly {low}" if low == high else f"at least {low}" if high is None else \
                f"at most {high}" if low is None else f"{low} to {high}"
            return (f"merge.method = {method!r}: mergekit's contract for {method} takes {wants} {what} "
                    f"(mergekit itself stops with 'Merge method requires ... inputs'), and a "
                    f"merge step has {n} (the base and the one fine-tune). Fix: use another method, e.g. slerp, "
                    f"linear, ties or nuslerp")
    return None


def plain_setting(value: Any) -> Any:
    """A parameter setting as plain data (OmegaConf lists and maps become lists and dicts)."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)  # `merge.t=1` is 1.0, as it was when t was typed float
    return value


def complement(setting: Any) -> Any:
    """1 - t for every number of a setting: a number, a gradient, or filtered values ({filter, value})."""
    if isinstance(setting, list):
        return [complement(v) for v in setting]
    if isinstance(setting, dict):
        return {**setting, "value": complement(setting["value"])}
    return 1.0 - setting


def model_parameters(merge: Any, spec: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(shared, base, tuned) parameters for mergekit: the config's, with `merge.t` (a number, or a
    per-layer gradient / filtered form) filling `t` (slerp) or the weights (the fine-tune's `t`, the
    base's `1 - t` where the base is weighed too: linear, nuslerp, multislerp) where none is given."""
    params = spec["parameters"]
    # A step's config slice leaves empty maps out (so a plain slerp keeps its key): absent means {}.
    shared, base, tuned = ({k: plain_setting(v) for k, v in (merge.get(key) or {}).items()}
                           for key in ("parameters", "base", "tuned"))
    t = plain_setting(merge.get("t", 0.5))
    if "t" in params and params["t"]["scope"] == "shared":
        shared.setdefault("t", t)
    if "weight" in params:
        tuned.setdefault("weight", t)
        if params["weight"]["scope"] == "input" or base_is_model(spec):
            base.setdefault("weight", complement(t))
    return shared, base, tuned


def option_problems(options: dict[str, Any], fields: dict[str, Any]) -> list[str]:
    """Sentences naming each `merge.options` key mergekit's MergeOptions would not take."""
    out = []
    for name, value in options.items():
        if name in STAGE_OPTIONS:
            out.append(f"merge.options.{name} = {value!r}: the merge stage sets it itself. Fix: remove it")
        elif name not in fields:
            import difflib

            close = difflib.get_close_matches(name, list(fields), n=3)
            allowed = ", ".join(sorted(set(fields) - set(STAGE_OPTIONS)))
            out.append(f"merge.options.{name} = {value!r}: mergekit's MergeOptions has no such field. Fix: use "
                       f"{' or '.join(close) if close else 'one of ' + allowed}")
    return out


def problems(merge: Any, specs: Specs) -> list[str]:
    """Sentences naming each key of `merge` that mergekit's method would refuse, or whose value lies
    outside the parameter's domain (`hala_exp.merging.domains`), with the fix."""
    method = merge.method
    if method not in specs:
        import difflib

        close = difflib.get_close_matches(method, list(specs), n=3) or sorted(specs)[:8]
        return [f"merge.method = {method!r}: mergekit has no such merge method. Fix: use none or one of "
                f"{', '.join(close)} (all: {', '.join(sorted(specs))})"]
    spec = specs[method]
    params = spec["parameters"]
    contract = input_problem(method, spec)
    if contract:
        return [contract]
    shared, base, tuned = model_parameters(merge, spec)
    # The base takes non-base parameters (a weight) where it is merged as one more model.
    scopes = {"parameters": ("shared",), "base": ("input", "non_base") if base_is_model(spec) else ("input",),
              "tuned": ("input", "non_base")}
    out = []
    for key, given in (("parameters", shared), ("base", base), ("tuned", tuned)):
        for name in given:
            if name not in params or params[name]["scope"] not in scopes[key]:
                where = [k for k, sc in scopes.items() if name in params and params[name]["scope"] in sc]
                fix = f"set it under merge.{where[0]}" if where else \
                    f"use one of {', '.join(p for p, d in params.items() if d['scope'] in scopes[key]) or 'none'}"
                out.append(f"merge.{key}.{name} = {given[name]!r}: {method} takes no such "
                           f"{'shared' if key == 'parameters' else 'per-model'} parameter. Fix: {fix}")
    for name, d in params.items():
        if d["required"]:
            non_base = [base, tuned] if base_is_model(spec) else [tuned]
            holders = {"shared": [shared], "non_base": non_base, "input": [base, tuned]}[d["scope"]]
            if any(name not in h for h in holders):
                key = {"shared": "parameters", "non_base": "tuned", "input": "tuned"}[d["scope"]]
                out.append(f"merge.{key}.{name}: {method} needs it. Fix: set merge.{key}.{name}=...")
    if not out:  # every name is mergekit's: now their values
        from hala_exp.merging.domains import domain_problems

        out = domain_problems(method, {"parameters": shared, "base": base, "tuned": tuned})
    return out


if __name__ == "__main__":  # the registry of this interpreter's mergekit, for a stage in another environment
    print(json.dumps({"methods": read_registry(), "options": read_options()}, sort_keys=True))
    sys.exit(0)
