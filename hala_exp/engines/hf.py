"""transformers back-end: left-padded batched `generate`, for CPUs and small GPUs.

Batches are formed from length-sorted prompts so padding stays small; outputs return in input order.
"""

from __future__ import annotations

from omegaconf import DictConfig

from hala_exp import progress
from hala_exp.engines.base import TOO_LONG, Generation, Message, SamplingParams, fits
from hala_exp.models.loading import load_causal_lm, load_tokenizer, pick_device, special_token_strings


class TransformersEngine:
    def __init__(self, model_path: str, engine_cfg: DictConfig, model_dtype: str = "auto"):
        self.device = pick_device(engine_cfg.device)
        dtype = engine_cfg.dtype if engine_cfg.dtype != "auto" else (
            "float32" if self.device == "cpu" else model_dtype)
        self.tokenizer = load_tokenizer(model_path)
        self.model = load_causal_lm(model_path, self.device, dtype)
        self.batch_size = engine_cfg.batch_size
        self.max_model_len = engine_cfg.get("max_model_len")  # as vLLM: prompts that fill it are not run

    def chat(self, conversations: list[list[Message]], params: SamplingParams) -> list[Generation]:
        prompts = [self.tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
                   for c in conversations]
        return self.generate(prompts, params)

    def generate(self, prompts: list[str], params: SamplingParams) -> list[Generation]:
        results = [TOO_LONG] * len(prompts)  # replaced for every prompt that runs
        runnable = list(range(len(prompts)))
        if self.max_model_len is not None:
            lengths = [len(ids) for ids in self.tokenizer(prompts, add_special_tokens=False)["input_ids"]]
            runnable = [i for i in runnable if fits(lengths[i], self.max_model_len)]
        order = sorted(runnable, key=lambda i: len(prompts[i]))
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos]) if eos is not None else set()
        with progress.track(len(prompts), "prompts", "generate") as task:
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                for i, gen in zip(idx, self._batch([prompts[i] for i in idx], params, eos_ids)):
                    results[i] = gen
                task.advance(len(idx))
        return results

    def special_tokens(self) -> list[str]:
        return special_token_strings(self.tokenizer)

    def _batch(self, prompts: list[str], params: SamplingParams, eos_ids: set[int]) -> list[Generation]:
        """One left-padded batch through `generate`."""
        import torch

        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        kwargs = dict(max_new_tokens=params.max_new_tokens, pad_token_id=self.tokenizer.pad_token_id)
        if params.temperature > 0:
            torch.manual_seed(params.seed)
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        with torch.inference_mode():
            out = self.model.generate(**enc, **kwargs)
        gens = []
        for row in out[:, enc["input_ids"].shape[1]:].tolist():
            ended = next((k for k, t in enumerate(row) if t in eos_ids), None)
            tokens = row if ended is None else row[:ended]
            gens.append(Generation(text=self.tokenizer.decode(tokens, skip_special_tokens=True).strip(),
                                   finished=ended is not None, new_tokens=len(tokens)))
        return gens

    def close(self) -> None:
        del self.model
