"""Every hub model and dataset a run reads, checked before its first step.

Without this, a model id the hub does not know, or any id on a machine that cannot reach the hub,
fails when its stage starts: after the stages before it ran, and after a minute of retries. Here
each id costs one metadata request (10 s timeout, no retries) online, or a look in the local cache
offline (`HF_HUB_OFFLINE=1`); the first unreachable hub stops the checks, so an outage costs seconds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hala_exp.config.errors import ConfigError
from hala_exp.data.paths import is_local_path, resolve_path
from hala_exp.models.gguf import hub_offline

TIMEOUT_S = 10.0


@dataclass(frozen=True)
class HubRef:
    """One repo the run reads: where in the config it comes from, and what it is."""

    key: str  # the step input or source that names it, for the message
    repo: str
    revision: str | None
    repo_type: str  # model | dataset


def _cached(ref: HubRef) -> bool:
    """Whether the local caches hold the repo (hub cache; for datasets, also the datasets cache)."""
    from huggingface_hub import snapshot_download

    try:
        snapshot_download(ref.repo, repo_type=ref.repo_type, revision=ref.revision, local_files_only=True)
        return True
    except Exception:
        pass
    if ref.repo_type == "dataset":
        from datasets import config as ds_config

        return any(Path(ds_config.HF_DATASETS_CACHE).glob(ref.repo.replace("/", "___") + "*"))
    return False


def _offline_problem(ref: HubRef) -> str | None:
    if _cached(ref):
        return None
    kind = "model" if ref.repo_type == "model" else "dataset"
    return (f"{ref.key}: {kind} {ref.repo!r} is not in the local cache, and HF_HUB_OFFLINE=1 keeps the hub "
            f"out of reach. Fix: download it on a machine with hub access (`hf download {ref.repo}"
            f"{' --repo-type dataset' if ref.repo_type == 'dataset' else ''}`) into the cache this machine reads "
            f"(HF_HOME), point the config at a local copy, or unset HF_HUB_OFFLINE")


def _online_problem(ref: HubRef) -> tuple[str | None, bool]:
    """(problem, hub unreachable) for one repo, from one metadata request."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    kind = "model" if ref.repo_type == "model" else "dataset"
    try:
        HfApi().repo_info(ref.repo, repo_type=ref.repo_type, revision=ref.revision, timeout=TIMEOUT_S)
    except GatedRepoError:
        return (f"{ref.key}: {kind} {ref.repo!r} is gated. Fix: accept its terms on the hub and make a token "
                f"available (`hf auth login`, or HF_TOKEN in the environment, never in a config)"), False
    except RevisionNotFoundError:
        return (f"{ref.key}: {kind} {ref.repo!r} has no revision {ref.revision!r}. Fix: use a branch, tag "
                f"or commit the repo has"), False
    except RepositoryNotFoundError:
        return (f"{ref.key}: {kind} {ref.repo!r} is not on the hub (or is private and no token is set). Fix: "
                f"check the id (namespace/name), or point it at a local directory"), False
    except Exception as e:  # connection refused, DNS, timeout, proxy: the hub is out of reach
        endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
        return (f"{ref.key}: the hub ({endpoint}) cannot be reached to look up {kind} {ref.repo!r} "
                f"({type(e).__name__}). Fix: run where the hub is reachable, or set HF_HUB_OFFLINE=1 to "
                f"read models and datasets from the local cache"), True
    return None, False


def check_refs(refs: list[HubRef]) -> None:
    """ConfigError naming the first model or dataset of `refs` that cannot be read, before any step
    starts (`hala_exp.plan.checks.check_reachable` gathers them from the run's Plan)."""
    for ref in refs:
        if is_local_path(ref.repo):
            if not resolve_path(ref.repo).exists():
                raise ConfigError(f"{ref.key}: local path {ref.repo!r} does not exist. Fix: point it at a "
                                  f"directory saved with save_pretrained, or use a hub id")
            continue
        if hub_offline():
            problem = _offline_problem(ref)
        else:
            problem, unreachable = _online_problem(ref)
            if unreachable:
                raise ConfigError(problem)
        if problem:
            raise ConfigError(problem)
