"""Typed schemas for every config group, registered in Hydra's ConfigStore.

The primary config (`conf/config.yaml`) starts from `hala_schema`, so every group's YAML is merged
into these dataclasses: an unknown key or a value of the wrong type fails at compose time with the
key's full name. Range checks that a type cannot express live in `hala_exp.config.checks`, in the
module of the same name as the group's schema module here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from hala_exp.config.schema.allam import AllamConfig, CptConfig, ExpandConfig, FertilityConfig, InstructConfig
from hala_exp.config.schema.cluster import ClusterConfig, ResourcesConfig, RuntimeConfig, StageResources
from hala_exp.config.schema.data import DataConfig, GatesConfig, MixConfig
from hala_exp.config.schema.dpo import DpoConfig
from hala_exp.config.schema.engine import EngineConfig
from hala_exp.config.schema.eval import (
    AlignedMMLUConfig,
    CustomTasksConfig,
    EvalConfig,
    HeldoutConfig,
    LightevalConfig,
    MMLUSideConfig,
    TranslationEvalConfig,
)
from hala_exp.config.schema.logger import LoggerConfig
from hala_exp.config.schema.models import (
    GgufConfig,
    JudgeConfig,
    ModelConfig,
    TeacherConfig,
    TinyArch,
    TrainOverrides,
    TranslatorConfig,
)
from hala_exp.config.schema.sources import (
    ParallelSourceConfig,
    PreferenceSourceConfig,
    SourceConfig,
    TextSourceConfig,
)
from hala_exp.config.schema.systems import SystemConfig, SystemsConfig
from hala_exp.config.schema.training import MergeConfig, TrainConfig


@dataclass
class Config:
    name: str = "tiny"
    model: ModelConfig = MISSING
    teacher: TeacherConfig = MISSING
    translator: TranslatorConfig = MISSING
    judge: JudgeConfig = MISSING
    data: DataConfig = MISSING
    train: TrainConfig = MISSING
    merge: MergeConfig = MISSING
    eval: EvalConfig = MISSING
    engine: EngineConfig = field(default_factory=EngineConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    cluster: ClusterConfig = MISSING
    resources: ResourcesConfig = MISSING
    dpo: DpoConfig = MISSING
    allam: AllamConfig = MISSING
    systems: SystemsConfig = field(default_factory=SystemsConfig)  # checkpoints that recipe=compare evaluates
    # hala (translate-and-tune) | allam (vocabulary expansion + continued pre-training) | compare
    # (`systems` evaluated as they are, beside the paper's numbers)
    recipe: str = "hala"
    store: str = "outputs/cache"  # where stage outputs live, keyed by content
    # size: reuse checks each stored file's size; hash: also the content of reused outputs that a step
    # about to run reads (xxh3-128, disk speed); `hala-exp-verify` hashes a whole store
    store_verify: str = "hash"
    plan: bool = False  # print what would run and what is reused, then stop
    # false: a line per step and a live bar, every library's output in <run dir>/steps/<step>.log;
    # true (or `hala-exp -v`): everything on the console as the libraries write it
    verbose: bool = False
    # Step names (shell patterns, e.g. "heldout.*") to run with what they need; empty: every step.
    targets: list[str] = field(default_factory=list)
    seed: int = 0


def register(sweeps: bool = True) -> None:
    """Put the schema in the ConfigStore; `conf/config.yaml` lists it first in its defaults. With
    `sweeps`, also the `sweep` and `search` groups (`+sweep=NAME` reads sweeps/NAME.yaml); parsing
    them costs ~30 ms, which a command that names neither need not pay."""
    from hala_exp.config.sweeps import register_sweeps

    ConfigStore.instance().store(name="hala_schema", node=Config, replace=True)
    if sweeps:
        register_sweeps()


__all__ = [
    "AlignedMMLUConfig", "AllamConfig", "ClusterConfig", "Config", "CptConfig", "CustomTasksConfig", "DataConfig",
    "DpoConfig", "EngineConfig", "EvalConfig", "ExpandConfig", "FertilityConfig", "GatesConfig", "GgufConfig",
    "HeldoutConfig", "InstructConfig", "JudgeConfig", "LightevalConfig", "LoggerConfig", "MMLUSideConfig",
    "MergeConfig", "MixConfig", "ModelConfig", "ParallelSourceConfig", "PreferenceSourceConfig", "ResourcesConfig",
    "RuntimeConfig", "SourceConfig", "StageResources", "SystemConfig", "SystemsConfig", "TeacherConfig",
    "TextSourceConfig", "TinyArch", "TrainConfig", "TrainOverrides", "TranslationEvalConfig", "TranslatorConfig",
    "register",
]
