"""Which reused outputs get their content hashed before use (`store_verify`).

Sizes are checked at every reuse. Hashing reads every byte, so it is kept to where it matters: a
complete output that a step about to run in this invocation reads (the reader would otherwise
train, merge or score on damaged bytes). Outputs nothing reads now are left alone until
`hala-exp-verify` or the next run that reads them.
"""

from __future__ import annotations

from hala_exp.pipeline.store import Store
from hala_exp.recipes.graph import Ref, Step

MODES = ("size", "hash")  # size: stat each listed file; hash: also xxh3-128 of what a running step reads


def to_hash(steps: list[Step], keys: dict[str, str], store: Store, mode: str,
            pending: set[str] | None = None) -> set[str]:
    """Names of the complete steps whose outputs a step that must run reads (none unless mode=hash).
    `pending`: the steps that must run, when already known (else read from the store)."""
    if mode != "hash":
        return set()
    if pending is None:
        pending = {s.name for s in steps if store.record(s.name, keys[s.name]) is None}
    read = {v.step for s in steps if s.name in pending for v in s.inputs.values() if isinstance(v, Ref)}
    return read - pending
