"""What a source's snapshot is keyed by: its content, not its name.

A local file is keyed by the xxh3-128 of its bytes (cached by path, size, modification time and
inode in `<store>/.registry/hashes/`, so an unchanged file is hashed once, however often it is
planned); a glob of files by each file's name and hash. A hub dataset is keyed by the commit its
revision resolves to: asked of the hub when it is reachable, read from the local hub cache when
offline; a revision that resolves to nothing is keyed by its name, and the snapshot records what
it loaded.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from hala_exp.data.paths import resolve_path
from hala_exp.models.gguf import file_hash, hub_offline

COMMIT = re.compile(r"^[0-9a-f]{40}$")


def cached_file_hash(path: Path, cache_dir: Path | None) -> str:
    """xxh3-128 of the file, remembered under its (path, size, mtime_ns, inode)."""
    st = path.stat()
    ident = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}"
    entry = None
    if cache_dir is not None:
        entry = cache_dir / (hashlib.sha256(ident.encode()).hexdigest()[:32] + ".json")
        try:
            return json.loads(entry.read_text(encoding="utf-8"))["xxh3_128"]
        except (OSError, ValueError, KeyError):
            pass
    digest = file_hash(path)
    if entry is not None:
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            tmp = entry.with_name(f".{entry.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"file": ident, "xxh3_128": digest}), encoding="utf-8")
            os.replace(tmp, entry)
        except OSError:
            pass  # a read-only store still works, hashing every time
    return digest


def local_files(src: DictConfig) -> list[Path]:
    """The files a local source reads (a glob's matches [offset, offset + rows) for format=files)."""
    if src.format == "hub":
        return []
    if src.format == "files":
        from hala_exp.data.texts import matched_files

        return [Path(p) for p in matched_files(src)]
    return [resolve_path(src.path)]


@functools.lru_cache(maxsize=256)
def hub_commit(repo: str, revision: str | None, repo_type: str = "dataset") -> str | None:
    """The commit `revision` (default: main) of a hub repo points at, or None when it cannot be told.

    Online: one metadata request (10 s timeout, no retries). Offline: the ref the local hub cache holds.
    """
    rev = revision or "main"
    if COMMIT.match(rev):
        return rev
    if hub_offline():
        from huggingface_hub import constants

        folder = Path(constants.HF_HUB_CACHE) / f"{repo_type}s--{repo.replace('/', '--')}" / "refs" / rev
        try:
            return folder.read_text(encoding="utf-8").strip() or None
        except OSError:
            return None
    from huggingface_hub import HfApi

    try:
        info = HfApi().repo_info(repo, repo_type=repo_type, revision=rev, timeout=10)
    except Exception:  # unreachable, unknown or gated: the reachability check says which, and when
        return None
    return info.sha


def content_identity(src: DictConfig, cache_dir: Path | None) -> dict[str, Any]:
    """The part of a snapshot's key that says which bytes it reads."""
    if src.format == "hub":
        revision = src.get("revision")
        return {"hub_commit": hub_commit(src.path, revision), "revision": revision or "main"}
    try:
        files = local_files(src)
    except FileNotFoundError:
        return {"missing": src.path}  # validation names it; the key only has to be stable
    if src.format == "files":
        return {"files": [[p.name, cached_file_hash(p, cache_dir)] for p in files]}
    path = files[0]
    if not path.is_file():
        return {"missing": str(path)}
    return {"xxh3_128": cached_file_hash(path, cache_dir), "bytes": path.stat().st_size}


def tree_identity(path: Path, cache_dir: Path | None) -> dict[str, Any]:
    """A local file's hash, or a directory's files by relative path and hash (sorted; hidden files
    left out), so an edited file changes the key of whatever reads it."""
    if path.is_file():
        return {"xxh3_128": cached_file_hash(path, cache_dir)}
    if not path.is_dir():
        return {"missing": str(path)}
    files = sorted(p for p in path.rglob("*") if p.is_file() and not any(
        part.startswith(".") for part in p.relative_to(path).parts))
    return {"files": [[p.relative_to(path).as_posix(), cached_file_hash(p, cache_dir)] for p in files]}
