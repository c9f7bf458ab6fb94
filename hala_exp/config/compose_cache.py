"""Hydra's composed config, kept between processes and keyed by everything it is made from.

Composing `conf/` (18 typed groups, ~30 YAML files merged into the schema's dataclasses) costs
about 0.4 s, more than everything else `hala-exp` does before a step starts; every sweep point,
Slurm job and `plan=true` pays it again for the same answer. Hydra has no such cache, so this
module wraps the one method of Hydra's config loader that composes
(`ConfigLoaderImpl._load_configuration_impl`) and keeps its result, pickled, under the user's cache.

The key is a hash of every input of that method: the config name and the expanded overrides, the
run mode and flags, the working directory and job name (both written into `hydra.runtime`/`job`),
the bytes of every YAML file of every file and package config source, every ConfigStore entry
(a plain entry's YAML; a schema's class and the source files of its package), and the Python, Hydra and OmegaConf
versions. Change any of them and the config is composed afresh. A config that copies environment
variables (`hydra.job.env_copy`) is never kept, so no environment value lands on disk. Set
`HALA_EXP_COMPOSE_CACHE=0` to compose every time.
"""

from __future__ import annotations

import functools
import os
import pickle
import sys
import tempfile
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Callable

import xxhash

from hala_exp.cache_dir import cache_dir

FORMAT = "2"  # bump when what is stored changes shape
KEEP = 256  # composed configs kept; the oldest go first
ENV_SWITCH = "HALA_EXP_COMPOSE_CACHE"


def enabled() -> bool:
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "off", "no")


def folder() -> Path:
    return cache_dir() / "compose"


def _yaml_tree(root: Path, h: Any) -> None:
    """Every YAML file under `root`, by relative path and bytes."""
    for path in sorted(root.rglob("*")):
        if path.suffix in (".yaml", ".yml") and path.is_file() and "__pycache__" not in path.parts:
            h.update(f"\0{path.relative_to(root).as_posix()}\0".encode())
            h.update(path.read_bytes())


def _package_dir(name: str) -> Path | None:
    spec = find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@functools.cache
def _source_files(directory: str) -> bytes:
    """The Python files beside a schema module: its nested dataclasses live in sibling modules."""
    h = xxhash.xxh3_128()
    for path in sorted(Path(directory).glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.digest()


def _config_store(h: Any) -> None:
    """Each ConfigStore entry: where it sits and its package; a plain entry's YAML; a schema's class
    and the source files beside it (schemas are stored with their defaults, which that source holds;
    Hydra's YAML of its own large schema would cost more than this whole lookup saves)."""
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    def walk(tree: dict[str, Any], path: str) -> None:
        for name in sorted(tree):
            entry = tree[name]
            if isinstance(entry, dict):
                walk(entry, f"{path}/{name}")
                continue
            h.update(f"\0{path}/{name}|{entry.package}|{entry.provider}\0".encode())
            kind = OmegaConf.get_type(entry.node)
            module = sys.modules.get(kind.__module__) if kind not in (None, dict) else None
            if module is None or not getattr(module, "__file__", None):
                h.update(OmegaConf.to_yaml(entry.node).encode())  # a plain node: its content
                continue
            # a schema: its class and the source it and its nested dataclasses are defined in
            h.update(f"{kind.__module__}.{kind.__qualname__}".encode())
            h.update(_source_files(str(Path(module.__file__).parent)))

    walk(ConfigStore.instance().repo, "")


def _sources(repo: Any, h: Any) -> bool:
    """Each config source's files; False when a source is of a kind whose content cannot be read."""
    for source in repo.get_sources():
        scheme = source.scheme()
        h.update(f"\0{scheme}|{source.path}|{source.provider}\0".encode())
        if scheme == "file":
            _yaml_tree(Path(source.path), h)
        elif scheme == "pkg":
            root = _package_dir(source.path.replace("/", "."))
            if root is None:
                return False
            _yaml_tree(root, h)
        elif scheme == "structured":
            _config_store(h)
        else:
            return False
    return True


def key(repo: Any, config_name: str | None, overrides: list[str], flags: tuple[Any, ...]) -> str | None:
    """The hash of every input of a composition, or None when one of them cannot be read."""
    import hydra
    import omegaconf
    from hydra.core.utils import JobRuntime

    h = xxhash.xxh3_128()
    name = JobRuntime().conf.get("name")  # Hydra's job name, set from the script before composing
    h.update(repr((FORMAT, sys.version, hydra.__version__, omegaconf.__version__, config_name, overrides,
                   flags, os.getcwd(), name)).encode())
    if not _sources(repo, h):
        return None
    return h.hexdigest()


def load(digest: str) -> Any | None:
    path = folder() / f"{digest}.pkl"
    try:
        with path.open("rb") as f:
            return pickle.load(f)
    except FileNotFoundError:
        return None
    except Exception:  # a damaged or foreign file: compose afresh and write it again
        path.unlink(missing_ok=True)
        return None


def save(digest: str, cfg: Any) -> None:
    """Write atomically (a reader never sees half a file), owner-only, and keep the newest KEEP.

    Without the values resolvers cached while composing: `${now:...}` resolved then must be
    resolved again by the run that reads this back, or every later run would get this run's time.
    """
    from omegaconf import OmegaConf

    where = folder()
    resolved = OmegaConf.get_cache(cfg)
    try:
        where.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=where, prefix=".tmp-", suffix=".pkl")
        OmegaConf.clear_cache(cfg)
        with os.fdopen(fd, "wb") as f:
            pickle.dump(cfg, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, where / f"{digest}.pkl")
        kept = sorted(where.glob("*.pkl"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
        for old in kept[KEEP:]:
            old.unlink(missing_ok=True)
    except OSError:  # a read-only or full cache only costs the next run its composition
        pass
    finally:
        OmegaConf.set_cache(cfg, resolved)  # this process goes on with the values it resolved


def _cached(compose: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(compose)
    def load_configuration_impl(self: Any, config_name: str | None, overrides: list[str], run_mode: Any,
                                from_shell: bool = True, validate_sweep_overrides: bool = True,
                                skip_missing_defaults: bool = False, activate_config_repository: bool = False,
                                parsed_overrides: list[Any] | None = None) -> Any:
        args = dict(config_name=config_name, overrides=overrides, run_mode=run_mode, from_shell=from_shell,
                    validate_sweep_overrides=validate_sweep_overrides, skip_missing_defaults=skip_missing_defaults,
                    activate_config_repository=activate_config_repository, parsed_overrides=parsed_overrides)
        if not enabled():
            return compose(self, **args)
        self.ensure_main_config_source_available()
        parsed, repo = self._parse_overrides_and_create_caching_repo(config_name, overrides, parsed_overrides)
        flags = (str(run_mode), from_shell, validate_sweep_overrides, skip_missing_defaults)
        digest = key(repo, config_name, [o.input_line for o in parsed], flags)
        cfg = load(digest) if digest else None
        if cfg is not None:
            if activate_config_repository:  # what Hydra's own composition leaves behind for group listings
                self._active_repository = repo
            return cfg
        cfg = compose(self, **{**args, "parsed_overrides": parsed})
        if digest and not cfg.hydra.job.get("env_copy"):
            save(digest, cfg)
        return cfg

    load_configuration_impl.__wrapped_by_hala_exp__ = True  # type: ignore[attr-defined]
    return load_configuration_impl


def install() -> None:
    """Route Hydra's composition through the cache for this process (once; idempotent)."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    current = ConfigLoaderImpl._load_configuration_impl
    if not getattr(current, "__wrapped_by_hala_exp__", False):
        ConfigLoaderImpl._load_configuration_impl = _cached(current)  # type: ignore[method-assign]
