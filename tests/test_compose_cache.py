"""The composition cache: a config read back equals the one composed, and any input change recomposes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf, ValidationError

from hala_exp.config import CONF_DIR, compose_cache
from hala_exp.config.schema import register


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh cache folder, the wrapper installed, and a count of the compositions really done."""
    monkeypatch.setenv("HALA_EXP_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(compose_cache.ENV_SWITCH, raising=False)
    compose_cache.install()
    wrapped = ConfigLoaderImpl._load_configuration_impl
    real = wrapped.__wrapped__
    calls = []

    def counting(self, *args, **kwargs):
        calls.append(kwargs.get("overrides"))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ConfigLoaderImpl, "_load_configuration_impl", compose_cache._cached(counting))
    register()
    return calls


def _compose(conf: Path, overrides: list[str] = ()) -> OmegaConf:
    with initialize_config_dir(config_dir=str(conf)):
        return compose(config_name="config", overrides=list(overrides), return_hydra_config=True)


def _files() -> list[Path]:
    return sorted(compose_cache.folder().glob("*.pkl"))


def test_a_config_read_back_is_the_config_composed(cache):
    first = _compose(CONF_DIR, ["merge.t=0.25"])
    second = _compose(CONF_DIR, ["merge.t=0.25"])
    assert len(cache) == 1 and len(_files()) == 1  # the second came from the cache
    assert OmegaConf.to_yaml(second) == OmegaConf.to_yaml(first)
    assert second.merge.t == 0.25 and list(second.hydra.overrides.task) == ["merge.t=0.25"]
    assert second.hydra.runtime.choices.model == first.hydra.runtime.choices.model
    # still the typed schema: struct mode, types checked, dataclass behind each group
    assert OmegaConf.get_type(second.train).__name__ == "TrainConfig"
    with pytest.raises(ValidationError):
        second.train.max_steps = "many"
    with pytest.raises(Exception, match="bogus"):
        second.model.bogus = 1


def test_other_overrides_are_composed_afresh(cache):
    a = _compose(CONF_DIR, ["merge.t=0.25"])
    b = _compose(CONF_DIR, ["merge.t=0.75"])
    assert (a.merge.t, b.merge.t) == (0.25, 0.75)
    assert len(cache) == 2 and len(_files()) == 2


def test_a_changed_yaml_file_is_composed_afresh(cache, tmp_path):
    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    assert _compose(conf).merge.t == 0.5
    slerp = conf / "merge" / "slerp.yaml"
    slerp.write_text(slerp.read_text().replace("t: 0.5", "t: 0.6"))
    assert _compose(conf).merge.t == 0.6
    assert len(cache) == 2
    (conf / "merge" / "new_method.yaml").write_text("method: linear\nt: 0.5\n")  # a new file in a group
    _compose(conf)
    assert len(cache) == 3


def test_a_changed_schema_source_is_composed_afresh(cache, tmp_path, monkeypatch):
    """A ConfigStore schema is keyed by the source files beside its class: edit one, recompose."""
    pkg = tmp_path / "schema_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    source = pkg / "shapes.py"
    source.write_text("from dataclasses import dataclass\n\n@dataclass\nclass Shape:\n    sides: int = 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from schema_pkg.shapes import Shape

    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "config.yaml").write_text("defaults:\n  - shape_schema\n  - _self_\nsides: 5\n")
    ConfigStore.instance().store(name="shape_schema", node=Shape)
    try:
        _compose(conf)
        _compose(conf)
        assert len(cache) == 1
        source.write_text(source.read_text().replace("sides: int = 3", "sides: int = 4"))
        compose_cache._source_files.cache_clear()  # a new process reads the files again
        _compose(conf)
        assert len(cache) == 2
    finally:
        ConfigStore.instance().repo.pop("shape_schema.yaml", None)
        compose_cache._source_files.cache_clear()


def test_a_config_that_copies_environment_variables_is_never_kept(cache, tmp_path, monkeypatch):
    monkeypatch.setenv("HALA_TEST_SECRET", "s3cr3t-value")
    _compose(CONF_DIR, ["hydra.job.env_copy=[HALA_TEST_SECRET]"])
    _compose(CONF_DIR, ["hydra.job.env_copy=[HALA_TEST_SECRET]"])
    assert len(cache) == 2 and _files() == []


def test_a_damaged_entry_is_recomposed_and_replaced(cache):
    _compose(CONF_DIR)
    [entry] = _files()
    entry.write_bytes(b"not a pickle")
    assert _compose(CONF_DIR).merge.method == "slerp"
    assert len(cache) == 2 and entry.read_bytes() != b"not a pickle"


def test_switched_off_it_composes_every_time_and_keeps_nothing(cache, monkeypatch):
    monkeypatch.setenv(compose_cache.ENV_SWITCH, "0")
    _compose(CONF_DIR)
    _compose(CONF_DIR)
    assert len(cache) == 2 and _files() == []


def test_a_composition_error_is_raised_and_not_kept(cache):
    for _ in range(2):
        with pytest.raises(Exception, match="no_such_key"):
            _compose(CONF_DIR, ["merge.no_such_key=1"])
    assert len(cache) == 2 and _files() == []


def test_the_cli_prints_the_same_config_from_the_cache(tmp_path):
    env = {**os.environ, "HALA_EXP_CACHE": str(tmp_path / "cache")}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "hala_exp", *args], env=env, capture_output=True,
                              text=True, cwd=tmp_path, check=False)

    first = run("--cfg", "job", "model=smollm2_135m")
    second = run("--cfg", "job", "model=smollm2_135m")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert second.stdout == first.stdout and "SmolLM2" in first.stdout
    assert len(list((tmp_path / "cache" / "compose").glob("*.pkl"))) == 1
    bad = run("--cfg", "job", "train.max_steps=many")
    assert bad.returncode != 0 and "max_steps" in bad.stderr
    assert len(list((tmp_path / "cache" / "compose").glob("*.pkl"))) == 1


def test_a_config_read_back_resolves_the_time_anew(cache):
    """What resolvers cached while composing (Hydra resolves `${now:...}` then) is not kept: a run
    started later gets its own time, not the time of the run that composed first."""
    import time

    override = "hydra.run.dir=out/${now:%H-%M-%S-%f}"
    first = _compose(CONF_DIR, [override])
    assert OmegaConf.get_cache(first)  # the composing process keeps what it resolved
    time.sleep(0.01)
    second = _compose(CONF_DIR, [override])
    assert len(cache) == 1 and not OmegaConf.get_cache(second)
    assert second.hydra.run.dir != first.hydra.run.dir
