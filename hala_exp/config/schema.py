"""Typed schemas for every config group, registered in Hydra's ConfigStore.

The primary config (`conf/config.yaml`) starts from `hala_schema`, so every group's YAML is merged
into these dataclasses: an unknown key or a value of the wrong type fails at compose time with the
key's full name. Range checks that a type cannot express live in `hala_exp.config.validate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class TinyArch:
    """A model built in code instead of downloaded: real architecture, toy size."""

    arch: str = "lfm2"  # lfm2 | llama
    hidden_size: int = 64
    layers: int = 2
    heads: int = 4
    intermediate_size: int = 128
    vocab_size: int = 1024
    max_position: int = 512
    seed: int = 0
    # A short supervised warm-up on the bundled Tatoeba pairs so a tiny teacher or judge does its
    # task at all: none | translate | judge.
    warmup: str = "none"
    warmup_steps: int = 0
    warmup_rows: int = 800


@dataclass
class ModelConfig:
    """A causal LM: a hub id or local directory, or a tiny model built from `tiny`."""

    name: str = MISSING
    id: str = MISSING  # hub id ("LiquidAI/LFM2-350M") or local directory; "tiny" builds `tiny`
    revision: Optional[str] = None
    tiny: Optional[TinyArch] = None
    dtype: str = "bfloat16"
    # Per-size training defaults, used by the stage that fine-tunes this model.
    learning_rate: float = 5e-5
    batch_size: int = 8  # questions per forward batch
    grad_accum: int = 1
    max_length: int = 2048


@dataclass
class TeacherConfig(ModelConfig):
    fp8: bool = True
    quant_scheme: str = "FP8_DYNAMIC"
    quant_ignore: list[str] = field(default_factory=lambda: ["lm_head"])
    prompt: str = "Translate from English to Arabic: {text}"
    max_new_tokens: int = 1024
    probe_rows: int = 32  # fixed probe set used to compare FP8 against the unquantized teacher


@dataclass
class TranslatorConfig(ModelConfig):
    prompt: str = MISSING
    max_new_tokens: int = 1024


@dataclass
class JudgeConfig(ModelConfig):
    prompt: str = MISSING
    max_new_tokens: int = 4


@dataclass
class SourceConfig:
    """Rows of English instruction/response pairs, from the hub or a local file."""

    path: str = MISSING  # hub id, or a local file; "samples:<rel>" is inside the package
    format: str = "hub"  # hub | jsonl | tsv | parquet
    subset: Optional[str] = None
    split: str = "train"
    id_field: Optional[str] = "id"  # null: ids are "<source>-<row index>"
    instruction_field: str = "question"
    response_field: str = "response"
    rows: int = 1000
    offset: int = 0


@dataclass
class ParallelSourceConfig:
    """Arabic/English sentence pairs (OPUS-100 candidates, Tatoeba, MMLU questions)."""

    path: str = MISSING
    format: str = "hub"
    subset: Optional[str] = None
    split: str = "train"
    id_field: Optional[str] = None
    ar_field: str = "ar"  # dotted names reach into nested columns: "translation.ar"
    en_field: str = "en"
    rows: int = 1000
    offset: int = 0


@dataclass
class DataConfig:
    name: str = MISSING
    bootstrap: SourceConfig = MISSING  # Orca pairs the teacher translates (stage 2)
    parallel: ParallelSourceConfig = MISSING  # OPUS candidates the judge filters (stage 3)
    corpus: dict[str, SourceConfig] = field(default_factory=dict)  # the mix (stage 5)
    seed: int = 0


@dataclass
class TrainConfig:
    name: str = MISSING
    epochs: float = 1.0
    max_steps: int = -1  # > 0 overrides epochs
    warmup_ratio: float = 0.03
    lr_scheduler: str = "cosine"
    weight_decay: float = 0.0
    packing: bool = False
    completion_only_loss: bool = True  # loss on the assistant reply only (prompt-completion rows)
    use_cpu: bool = False
    bf16: bool = True
    gradient_checkpointing: bool = False
    logging_steps: int = 10
    seed: int = 0


@dataclass
class MergeConfig:
    method: str = "slerp"  # slerp | none
    t: float = 0.5
    dtype: str = "bfloat16"


@dataclass
class TranslationEvalConfig:
    """EN->AR translation quality: BLEU (13a), chrF++ and ROUGE-L F1 on aligned pairs."""

    source: ParallelSourceConfig = MISSING
    # Every system but the specialised translator gets this prompt (paper, Table 2 protocol).
    prompt: str = "Translate everything that follows into Arabic: {text}"
    n: int = 500
    seed: int = 1234
    max_new_tokens: int = 512


@dataclass
class LightevalConfig:
    tasks: list[str] = field(default_factory=list)  # lighteval task names "suite|task|fewshot"
    custom_tasks: Optional[str] = None  # module path or file with LightevalTaskConfig objects
    data_dir: Optional[str] = None  # local copies of the tasks' datasets (clusters offline)
    max_samples: Optional[int] = None
    batch_size: int = 8  # questions per forward batch


@dataclass
class EvalConfig:
    name: str = MISSING
    lighteval: LightevalConfig = field(default_factory=LightevalConfig)
    translation: TranslationEvalConfig = MISSING


@dataclass
class EngineConfig:
    """Where generation runs. `transformers` on CPU / small GPUs; `vllm` on GPU nodes."""

    backend: str = "transformers"  # transformers | vllm
    batch_size: int = 16
    device: str = "auto"  # auto | cpu | cuda
    dtype: str = "auto"  # auto: the model's dtype on GPU, float32 on CPU
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0


@dataclass
class LoggerConfig:
    backend: str = "none"  # none | wandb
    project: str = "hala-exp"
    entity: Optional[str] = None
    mode: str = "offline"  # offline | online


@dataclass
class TextSourceConfig:
    """Raw text: columns of a local file or hub dataset, or whole files matched by a glob."""

    path: str = MISSING  # hub id, local file, "samples:<rel>"; for format=files a glob ("package:<rel glob>")
    format: str = "hub"  # hub | jsonl | tsv | parquet | files
    subset: str | None = None
    split: str = "train"
    fields: list[str] = field(default_factory=lambda: ["text"])  # columns taken, each row gives one text per field
    rows: int = 1000
    offset: int = 0


@dataclass
class FertilityConfig:
    """Tokens per word / per character on each language's text, for each tokenizer."""

    tokenizers: dict[str, str] = field(default_factory=dict)  # extra tokenizers to compare: label -> hub id / dir
    texts: dict[str, TextSourceConfig] = field(default_factory=dict)  # language label -> its text


@dataclass
class ExpandConfig:
    """Train an Arabic tokenizer and append its tokens to the base model's vocabulary."""

    enabled: bool = True
    corpus: TextSourceConfig = MISSING  # Arabic text the new tokenizer is trained on
    vocab_size: int = 32000  # of the Arabic tokenizer; tokens the base already has are not added twice
    init: str = "mean"  # mean (of the base pieces' rows) | random
    seed: int = 0


@dataclass
class CptConfig:
    """Continued pre-training on an Arabic/English mixture (causal LM on raw text, packed)."""

    arabic: dict[str, TextSourceConfig] = field(default_factory=dict)
    english: dict[str, TextSourceConfig] = field(default_factory=dict)
    translated: dict[str, TextSourceConfig] = field(default_factory=dict)  # Arabic translated from English
    heldout: dict[str, TextSourceConfig] = field(default_factory=dict)  # language -> eval text (loss per language)
    ratio: float = 0.45  # Arabic share of the training tokens (ALLaM's best: 45/55)
    use_translated: bool = False  # draw part of the Arabic share from `translated`
    translated_fraction: float = 0.5  # that part, when use_translated
    tokens: int = 1_000_000  # training tokens sampled for the mixture
    learning_rate: float = 2e-5
    batch_size: int = 8
    grad_accum: int = 1
    max_length: int = 2048
    max_steps: int = 1000
    warmup_ratio: float = 0.01
    lr_scheduler: str = "cosine"
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    packing: bool = True
    use_cpu: bool = False
    bf16: bool = True
    spike_threshold: float = 2.0  # a spike: grad_norm > threshold x median of the previous window
    spike_window: int = 20
    seed: int = 0


@dataclass
class InstructConfig:
    """Instruction/response sources for the ALLaM recipe's SFT stage (then DPO when dpo.enabled)."""

    enabled: bool = True  # false: the recipe stops after continued pre-training (mixture ablations)
    sources: dict[str, SourceConfig] = field(default_factory=dict)


@dataclass
class AllamConfig:
    """The ALLaM studies' recipe: fertility -> expand_vocab -> cpt -> sft -> dpo -> evaluate."""

    fertility: FertilityConfig = field(default_factory=FertilityConfig)
    expand: ExpandConfig = field(default_factory=ExpandConfig)
    cpt: CptConfig = field(default_factory=CptConfig)
    sft: InstructConfig = field(default_factory=InstructConfig)


@dataclass
class PreferenceSourceConfig:
    """Preference pairs: one prompt, a chosen and a rejected reply."""

    path: str = MISSING
    format: str = "hub"
    subset: str | None = None
    split: str = "train"
    prompt_field: str = "prompt"
    chosen_field: str = "chosen"
    rejected_field: str = "rejected"
    rows: int = 1000
    offset: int = 0


@dataclass
class DpoConfig:
    """Direct preference optimisation after SFT (TRL DPOTrainer); a stage between sft and merge."""

    enabled: bool = False
    preferences: PreferenceSourceConfig = MISSING
    beta: float = 0.1
    loss_type: str = "sigmoid"
    learning_rate: float = 5e-7
    batch_size: int = 8
    grad_accum: int = 1
    max_length: int = 1024
    max_steps: int = 1000
    use_cpu: bool = False
    bf16: bool = True
    seed: int = 0


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
    dpo: DpoConfig = MISSING
    allam: AllamConfig = MISSING
    recipe: str = "hala"  # hala (translate-and-tune) | allam (vocabulary expansion + continued pre-training)
    store: str = "outputs/cache"  # where stage outputs live, keyed by content
    plan: bool = False  # print what would run and what is reused, then stop
    seed: int = 0


def register() -> None:
    """Put the schema in the ConfigStore; `conf/config.yaml` lists it first in its defaults."""
    ConfigStore.instance().store(name="hala_schema", node=Config, replace=True)
