"""vLLM back-end: offline batched generation and chat on GPUs, tensor-parallel.

The config -> `vllm.LLM(...)` / `vllm.SamplingParams(...)` mapping is a pure function of the
config (tested without vLLM); vLLM itself is imported only when an engine is opened.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from hala_exp.engines.base import TOO_LONG, Generation, Message, SamplingParams, fits
from hala_exp.models.loading import special_token_strings, split_revision

# Model types whose hybrid (conv + attention) cache vLLM cannot prefix-cache; lighteval turns it off too.
NO_PREFIX_CACHING = ("lfm2",)


def model_type(model_path: str) -> str | None:
    """`model_type` from a local checkpoint's config.json (None for hub ids: not read over the network)."""
    cfg = Path(model_path) / "config.json"
    if not cfg.is_file():
        return None
    return json.loads(cfg.read_text(encoding="utf-8")).get("model_type")


def prefix_caching(setting: str, model_path: str) -> bool:
    """on / off as configured; auto: off for LFM2 (by config.json, or by name for hub ids)."""
    if setting in ("on", "off"):
        return setting == "on"
    if setting != "auto":
        raise ValueError(f"engine.enable_prefix_caching = {setting!r}: must be auto, on or off")
    kind = model_type(model_path)
    name = model_path.lower()
    return not (kind in NO_PREFIX_CACHING or (kind is None and any(k in name for k in NO_PREFIX_CACHING)))


def llm_kwargs(engine_cfg: DictConfig, model_path: str, model_dtype: str = "auto") -> dict[str, Any]:
    """Keyword arguments for `vllm.LLM` from the engine config and the model."""
    path, revision = split_revision(model_path)
    dtype = engine_cfg.dtype if engine_cfg.dtype != "auto" else model_dtype
    kwargs: dict[str, Any] = {
        "model": path,
        "tokenizer": path,
        "dtype": dtype,
        "tensor_parallel_size": int(engine_cfg.tensor_parallel_size),
        "gpu_memory_utilization": float(engine_cfg.gpu_memory_utilization),
        "enable_prefix_caching": prefix_caching(engine_cfg.enable_prefix_caching, path),
        "seed": int(engine_cfg.seed),
        "enforce_eager": bool(engine_cfg.enforce_eager),
    }
    if revision is not None:
        kwargs["revision"] = revision
    if engine_cfg.max_model_len is not None:
        kwargs["max_model_len"] = int(engine_cfg.max_model_len)
    if engine_cfg.quantization is not None:  # else vLLM reads the checkpoint's quantization_config
        kwargs["quantization"] = engine_cfg.quantization
    if engine_cfg.max_num_seqs is not None:
        kwargs["max_num_seqs"] = int(engine_cfg.max_num_seqs)
    return kwargs


def sampling_kwargs(params: SamplingParams) -> dict[str, Any]:
    """Keyword arguments for `vllm.SamplingParams`: greedy at temperature 0 (top_p is then moot)."""
    kwargs: dict[str, Any] = {"max_tokens": params.max_new_tokens, "temperature": params.temperature,
                              "seed": params.seed, "skip_special_tokens": True}
    if params.temperature > 0:
        kwargs["top_p"] = params.top_p
    return kwargs


def to_generation(output: Any) -> Generation:
    """A vLLM `CompletionOutput` -> Generation; cut when vLLM stopped at the length limit."""
    return Generation(text=output.text.strip(), finished=output.finish_reason != "length",
                      new_tokens=len(output.token_ids))


class VLLMEngine:
    """vLLM's offline `LLM`, fed token ids: prompts are rendered and measured here, so one that
    does not fit the context is answered `TOO_LONG` instead of failing the whole call."""

    def __init__(self, model_path: str, engine_cfg: DictConfig, model_dtype: str = "auto"):
        from vllm import LLM

        before = _child_pids()
        self.llm = LLM(**llm_kwargs(engine_cfg, model_path, model_dtype))
        self.processes = _child_pids() - before  # the engine core and its workers
        self.tokenizer = self.llm.get_tokenizer()
        self.max_model_len = int(self.llm.llm_engine.model_config.max_model_len)

    def _params(self, params: SamplingParams):
        from vllm import SamplingParams as VSamplingParams

        return VSamplingParams(**sampling_kwargs(params))

    def chat(self, conversations: list[list[Message]], params: SamplingParams) -> list[Generation]:
        """One turn per conversation, rendered by the model's own chat template (as `LLM.chat` does)."""
        return self._run([self.tokenizer.apply_chat_template(c, tokenize=True, add_generation_prompt=True,
                                                             return_dict=False) for c in conversations], params)

    def generate(self, prompts: list[str], params: SamplingParams) -> list[Generation]:
        return self._run([self.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts], params)

    def _run(self, token_ids: list[list[int]], params: SamplingParams) -> list[Generation]:
        keep = [i for i, ids in enumerate(token_ids) if fits(len(ids), self.max_model_len)]
        results: list[Generation] = [TOO_LONG] * len(token_ids)
        if keep:
            outs = self.llm.generate([{"prompt_token_ids": list(token_ids[i])} for i in keep], self._params(params),
                                     use_tqdm=False)
            for i, o in zip(keep, outs):
                results[i] = to_generation(o.outputs[0])
        return results

    def special_tokens(self) -> list[str]:
        return special_token_strings(self.tokenizer)

    def close(self) -> None:
        """Shut the engine down and wait for its processes to exit, so the next engine in this
        process (BF16 then FP8 in one validation step) starts on freed memory."""
        import gc

        llm, self.llm = self.llm, None
        if llm is None:
            return
        llm.llm_engine.engine_core.shutdown()
        del llm
        gc.collect()
        try:
            import torch
            from vllm.distributed.parallel_state import (
                destroy_distributed_environment,
                destroy_model_parallel,
            )

            destroy_model_parallel()
            destroy_distributed_environment()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass
        left = _wait_gone(self.processes, timeout=60.0)
        if left:
            raise RuntimeError(f"vLLM engine processes {sorted(left)} still run after shutdown: their memory is "
                               "not free for the next engine")


# Helpers multiprocessing keeps for the life of this process: they hold no model memory.
_HELPERS = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")


def _child_pids() -> set[int]:
    import psutil

    pids = set()
    for p in psutil.Process().children(recursive=True):
        try:
            if not any(h in part for part in p.cmdline() for h in _HELPERS):
                pids.add(p.pid)
        except psutil.NoSuchProcess:
            pass
    return pids


def _wait_gone(pids: set[int], timeout: float) -> set[int]:
    """The pids still alive (not zombies) after up to `timeout` seconds."""
    import time

    import psutil

    deadline = time.monotonic() + timeout
    while True:
        alive = set()
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.add(pid)
            except psutil.NoSuchProcess:
                pass
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)
