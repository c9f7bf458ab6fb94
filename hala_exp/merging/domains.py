"""The values mergekit's merge-method parameters accept: one table, checked before any merge runs.

mergekit's registry (read by `hala_exp.merging.methods`) gives each parameter a name, a scope and a
default, but no range, and out-of-range values do not fail: `sparsify.magnitude` keeps every entry
for a `density` of 1.5, so a TIES merge "with density 1.5" runs to the end as a plain task
arithmetic merge. The ranges below are mergekit's own, read from where it uses each value
(mergekit 0.1.5, `mergekit/sparsify.py` and `mergekit/merge_methods/*.py`); a parameter absent
here (weight, lambda, scale, booleans) takes any value mergekit's types take.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hala_exp.domains import Range

SHARE = Range(0.0, 1.0)
POSITIVE = Range(0.0, low_open=True)

# (method, parameter) -> (range, what the value means, an example that works); method "*": any method.
DOMAINS: dict[tuple[str, str], tuple[Range, str, float]] = {
    # sparsify.py magnitude / bernoulli / magnitude_outliers / della_magprune: the share of each task
    # vector's entries kept (>= 1 keeps all, <= 0 none): generalized_task_arithmetic.py's `density`.
    ("*", "density"): (SHARE, "the share of each task vector's entries kept", 0.5),
    # sparsify.magnitude_outliers (breadcrumbs): the share of the largest entries removed first.
    ("*", "gamma"): (SHARE, "the share of the largest task-vector entries removed", 0.01),
    # sparsify.della_magprune: keep probabilities lie in density +/- epsilon, which must stay in (0, 1)
    # (checked jointly with density below, as mergekit raises mid-merge).
    ("della", "epsilon"): (Range(0.0, 1.0, high_open=True), "the spread of the keep probabilities", 0.1),
    ("della_linear", "epsilon"): (Range(0.0, 1.0, high_open=True), "the spread of the keep probabilities", 0.1),
    # ram.py: the magnitude below which a task-vector entry counts as zero (a divisor's floor).
    ("ram", "epsilon"): (POSITIVE, "the magnitude below which an entry counts as zero", 1e-5),
    ("ramplus_tl", "epsilon"): (POSITIVE, "the magnitude below which an entry counts as zero", 1e-5),
    # ram.py ramplus_tl: rho.clamp(min=0, max=alpha) and 1 + r * rho.
    ("ramplus_tl", "alpha"): (Range(0.0), "the cap on the shared-to-unique ratio", 0.2),
    ("ramplus_tl", "r"): (Range(0.0), "the rescaling strength", 0.1),
    # sce.py: sce_mask keeps the top `select_topk` share of entries by variance.
    ("sce", "select_topk"): (SHARE, "the share of entries kept by variance", 0.5),
    # slerp.py: the interpolation factor (0 the base model, 1 the other).
    ("slerp", "t"): (SHARE, "the interpolation factor (0 the base, 1 the fine-tune)", 0.5),
    # nearswap.py: weight = t / |a - b|, clamped to [0, 1]: a similarity threshold.
    ("nearswap", "t"): (Range(0.0), "the similarity threshold", 0.001),
    # multislerp.py / karcher.py: a tolerance and an iteration count.
    ("multislerp", "eps"): (POSITIVE, "the tolerance for a zero norm", 1e-8),
    ("karcher", "tol"): (POSITIVE, "the convergence tolerance", 1e-5),
    ("karcher", "max_iter"): (Range(1.0, integer=True), "the iteration cap", 10),
}


def domain(method: str, name: str) -> tuple[Range, str, float] | None:
    return DOMAINS.get((method, name)) or DOMAINS.get(("*", name))


def _numbers(value: Any) -> list[Any]:
    """The values of a parameter: a number, a gradient (a list), or filtered values ({filter, value})."""
    if isinstance(value, Sequence) and not isinstance(value, str):  # lists, OmegaConf's ListConfig
        return [v for item in value for v in _numbers(item)]
    if isinstance(value, Mapping):
        return _numbers(value.get("value"))
    return [] if value is None else [value]


def domain_problems(method: str, given: dict[str, dict[str, Any]]) -> list[str]:
    """Sentences naming each value of `given` ({"parameters"|"base"|"tuned": {name: value}}) outside
    its domain, with the fix; and della's joint rule on density and epsilon."""
    out = []
    for key, params in given.items():
        for name, value in params.items():
            d = domain(method, name)
            if d is None:
                continue
            rng, meaning, example = d
            bad = [v for v in _numbers(value) if v not in rng]
            if bad:
                shown = value if isinstance(value, (int, float, str)) else _numbers(value)
                out.append(f"merge.{key}.{name} = {shown!r}: for {method} it is {meaning}, {rng} "
                           f"(mergekit's definition), and {bad[0]!r} is not. Fix: set merge.{key}.{name}={example:g}")
    if method in ("della", "della_linear") and not out:
        for key, params in given.items():
            density, epsilon = params.get("density", 1.0), params.get("epsilon", 0.15)
            if isinstance(density, (int, float)) and isinstance(epsilon, (int, float)) and 0 < density < 1 \
                    and not (density + epsilon < 1 and density - epsilon > 0):
                out.append(f"merge.{key}.epsilon = {epsilon!r}: {method} keeps entries with probabilities "
                           f"density +/- epsilon, which must lie in (0, 1), and density is {density!r} "
                           f"(mergekit's sparsify.della_magprune). Fix: set merge.{key}.epsilon="
                           f"{round(min(density, 1 - density) / 2, 4):g}")
    return out


# `merge.t`: how far toward the fine-tune, whatever the method makes of it (slerp's t, the weights).
T_DOMAIN: tuple[Range, str, float] = (SHARE, "how far toward the fine-tune (0 the base, 1 the fine-tune)", 0.5)
T_EXAMPLE = "[{filter: self_attn, value: [0, 0.5, 1]}, {filter: mlp, value: [1, 0.5, 0]}, {value: 0.5}]"
SETTING_KEYS = ("filter", "value")


def _gradient_problem(value: Any, rng: Range) -> str | None:
    """What is wrong with a number or a gradient (a non-empty list of numbers across the layers)."""
    if isinstance(value, list):
        if not value:
            return "an empty gradient gives no value to any layer"
        bad = next((v for v in value if v not in rng), None)
        return None if bad is None and value else f"{bad!r} in the gradient is not {rng}"
    return None if value in rng else f"{value!r} is not {rng}"


def setting_problems(key: str, value: Any, domain_: tuple[Range, str, float] = T_DOMAIN) -> list[str]:
    """Sentences naming what mergekit would refuse or misread in a parameter setting (plain data): a
    number; a gradient (a non-empty list of numbers, interpolated across the layers); or a non-empty
    list of {filter: a tensor-name substring such as self_attn or mlp, value: number or gradient}, the
    first whose filter occurs in a tensor's name applying, and one without filter (or filter \"*\"), last,
    for the rest (mergekit 0.1.5, `mergekit/config.py` evaluate_setting)."""
    rng, meaning, example = domain_
    head = f"{key} = {value!r}: {meaning}"
    fix = f"set {key}={example:g}, a gradient such as [0, 0.5, 1], or per module {T_EXAMPLE}"
    if isinstance(value, Mapping):
        value = [value]  # mergekit takes one {filter, value} as a list of one
    if not isinstance(value, list):
        problem = _gradient_problem(value, rng)
        return [f"{head}, and {problem}. Fix: {fix}"] if problem else []
    if not value:
        return [f"{head}, and an empty list gives no value to any tensor. Fix: {fix}"]
    if not any(isinstance(v, Mapping) for v in value):
        problem = _gradient_problem(value, rng)
        return [f"{head}, and {problem}. Fix: {fix}"] if problem else []
    out = []
    for i, item in enumerate(value):
        at = f"{key}[{i}]"
        if not isinstance(item, Mapping):
            out.append(f"{at} = {item!r}: a list with filtered entries takes only {{filter, value}} entries. "
                       f"Fix: write it as {{value: {item!r}}}, or use the form {T_EXAMPLE}")
            continue
        extra = [k for k in item if k not in SETTING_KEYS]
        if extra:
            out.append(f"{at}.{extra[0]} = {item[extra[0]]!r}: an entry takes only filter and value. Fix: "
                       f"remove it (entries look like {{filter: self_attn, value: [0, 1]}})")
        if "filter" in item and (not isinstance(item["filter"], str) or not item["filter"]):
            out.append(f"{at}.filter = {item['filter']!r}: a filter is a piece of tensor names, as text. Fix: "
                       f"use e.g. filter: self_attn or filter: mlp, or leave filter out for the default")
        if "value" not in item:
            out.append(f"{at} = {item!r}: the entry has no value. Fix: add value: {example:g} (or a gradient)")
        else:
            v = item["value"]
            problem = "a value is a number or a gradient (a list of numbers)" \
                if isinstance(v, Mapping) or (isinstance(v, list) and any(isinstance(x, (list, Mapping)) for x in v)) \
                else _gradient_problem(v, rng)
            if problem:
                out.append(f"{at}.value = {v!r}: {meaning}, and {problem}. Fix: set {at}.value={example:g} "
                           f"or a gradient such as [0, 0.5, 1]")
    defaults = [i for i, item in enumerate(value) if isinstance(item, Mapping) and item.get("filter", "*") == "*"]
    if not out and not defaults:
        out.append(f"{head}, and no entry is without a filter, so tensors that match no filter get no value "
                   f"(mergekit then stops mid-merge). Fix: add a last entry {{value: {example:g}}}")
    elif not out and defaults[0] != len(value) - 1:
        out.append(f"{key}[{defaults[0] + 1}] = {value[defaults[0] + 1]!r}: it follows the entry without a filter, "
                   f"which applies to every tensor first, so it is never used. Fix: move {{value: ...}} last")
    return out


def t_problems(value: Any) -> list[str]:
    """`merge.t` (plain data) as a setting in [0, 1]: a number, a gradient or filtered values."""
    return setting_problems("merge.t", value)
