"""Why a step would run: what its key holds that the closest output of the same step in the store does not.

A key hashes the stage's version and function, the step's config slice and its inputs (other steps' keys, or
hub ids and paths; `graph.step_keys`), and every committed record keeps all four. Comparing them field by
field names the change (`train.learning_rate: 3e-05 -> 1e-05`, `input model: step sft changed`, `stage
version 3 -> 4`) without re-reading any data: a changed file shows as its source's content hash.
"""

from __future__ import annotations

import json
from typing import Any

from hala_exp.pipeline.store import Store
from hala_exp.recipes.graph import Ref, Step

# handed to the stage with its config, never hashed (`make_spec`); "report": what records written
# before the rename call `messages`
OUTSIDE_KEY = ("messages", "options", "report")
SHOWN = 4  # differences named per step; the rest are counted
WIDTH = 48  # characters of a value shown


def _flat(node: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves of nested dicts by dotted path; lists and scalars are leaves."""
    if isinstance(node, dict) and node:
        out: dict[str, Any] = {}
        for k, v in node.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: node}


_ABSENT = object()  # a path one side of a comparison does not have


def _show(value: Any) -> str:
    text = "(absent)" if value is _ABSENT else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= WIDTH else text[:WIDTH - 3] + "..."


def _inputs_then(record: dict[str, Any], partial: str | None) -> dict[str, str]:
    """A committed record's inputs ({name: {"path", "key"}}) as what a key hashes of each: the upstream
    step's key, or the hub id / path; the resumable-state directory is no input of the key."""
    out = {}
    for k, v in (record.get("inputs") or {}).items():
        if k != partial and isinstance(v, dict):
            out[k] = v.get("key") or v.get("path")
    return out


def differences(step: Step, keys: dict[str, str], record: dict[str, Any]) -> list[str]:
    """Each part of `step`'s key that differs from the committed `record`, as a short phrase."""
    found: list[str] = []
    if record.get("version") != step.version:
        found.append(f"stage version {record.get('version')} -> {step.version}")
    if record.get("fn") != step.fn:
        found.append(f"stage function {record.get('fn')} -> {step.fn}")
    config = {k: v for k, v in (record.get("config") or {}).items() if k not in OUTSIDE_KEY}
    now, then = _flat(step.config), _flat(config)
    for path in sorted(set(now) | set(then)):
        a, b = then.get(path, _ABSENT), now.get(path, _ABSENT)
        if a != b:
            found.append(f"{path}: {_show(a)} -> {_show(b)}")
    old = _inputs_then(record, step.partial)
    for name, value in sorted(step.inputs.items()):
        before = old.pop(name, None)
        if isinstance(value, Ref):
            if before != keys[value.step]:
                found.append(f"input {name}: step {value.step} changed")
        elif before != value:
            found.append(f"input {name}: {_show(before) if before else '(absent)'} -> {_show(value)}")
    found.extend(f"input {name}: removed" for name in sorted(old))
    return found


def why(store: Store, step: Step, keys: dict[str, str]) -> str | None:
    """One line: what differs from the closest committed output of this step (fewest differences, newest
    on a tie); None when the store holds none to compare with."""
    entries = sorted(store.records_of(step.name), key=lambda e: str(e[1].get("started", "")), reverse=True)
    if not entries:
        return None
    key, diff = min(((k, differences(step, keys, r)) for k, r in entries), key=lambda kd: len(kd[1]))
    if not diff:
        return f"same settings as {key} (written by another code state: its key was computed differently)"
    more = f"; and {len(diff) - SHOWN} more" if len(diff) > SHOWN else ""
    return f"against {key}: " + "; ".join(diff[:SHOWN]) + more
