"""Stage 1: compress the EN->AR teacher to FP8 with llm-compressor, then check it still translates.

The FP8 checkpoint is only worth using if it translates like the unquantized teacher. `run`
(llm-compressor's environment) writes it, loads it back with transformers and compares prompt
logits; `run_validate` (the engine's environment, vLLM on GPUs) translates a fixed probe set with
both models through the engine interface (the same path later stages use) and compares quality
(BLEU / chrF++ against the references), agreement and speed (tokens/s, the paper's ~2x).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from hala_exp.data.snapshot import load_snapshot
from hala_exp.engines.backends import make_engine
from hala_exp.engines.base import Generation, Message, SamplingParams, sampling_from
from hala_exp.evaluation.metrics import translation_scores
from hala_exp.json_files import write_jsonl
from hala_exp.merging.memory import BASE_GB, FP8_BYTES_PER_PARAM, dtype_bytes, with_headroom
from hala_exp.models.loading import load_causal_lm, pick_device, split_revision
from hala_exp.stages.declaration import StageInfo, group_weights, pick, plain, teacher_engine

# transformers' `save_pretrained` default: the compressed model is written in shards this size.
SAVE_SHARD_GB = 50.0

# The unquantized model is called "ref": on CPU it runs in float32, so "bf16" would misname it.
REF, FP8 = "ref", "fp8"


def prefix_share(a: str, b: str) -> float:
    """Share of the longer greedy output that both outputs have in common before they first differ."""
    return len(os.path.commonprefix([a, b])) / max(len(a), len(b), 1)


def _prompt_logits(model: Any, tokenizer: Any, conversations: list[list[Message]]) -> list[Any]:
    """Logits at every prompt position, one prompt at a time (no padding to mask), on the CPU."""
    import torch

    out = []
    for conv in conversations:
        text = tokenizer.apply_chat_template(conv, tokenize=False, add_generation_prompt=True)
        ids = tokenizer(text, return_tensors="pt", add_special_tokens=False).to(model.device)
        with torch.inference_mode():
            out.append(model(**ids).logits[0].float().cpu())
    return out


def _translate(engine_cfg: DictConfig, model_path: str, conversations: list[list[Message]],
               params: SamplingParams, model_dtype: str) -> tuple[list[Generation], float]:
    """Generations and tokens/s (generation only: loading the model is not counted)."""
    engine = make_engine(engine_cfg, model_path, model_dtype)
    try:
        start = time.perf_counter()
        gens = engine.chat(conversations, params)
        seconds = time.perf_counter() - start
    finally:
        engine.close()
    return gens, sum(g.new_tokens for g in gens) / max(seconds, 1e-9)


def _probe(cfg: DictConfig, inputs: dict[str, str]) -> tuple[list[dict], list[list[Message]]]:
    rows = load_snapshot(inputs["probe"])[: cfg.teacher.probe_rows]
    if not rows:
        raise ValueError(f"the probe set ({cfg.probe.path}) has no rows: set probe.rows / teacher.probe_rows")
    return rows, [[{"role": "user", "content": cfg.teacher.prompt.format(text=r["en"])}] for r in rows]


def run(cfg: DictConfig, inputs: dict[str, str], out: Path) -> dict[str, float]:
    """Quantize `inputs["model"]` to `out/model` (compressed-tensors + tokenizer), check it reloads.

    cfg: `teacher` (TeacherConfig), `engine.device`, `probe` (ParallelSourceConfig). Runs where
    llm-compressor is installed; the probe translations are `run_validate`, in the engine's environment.
    """
    from llmcompressor import oneshot
    from llmcompressor.modifiers.quantization import QuantizationModifier
    from transformers import AutoTokenizer

    teacher, src, model_dir = cfg.teacher, inputs["model"], out / "model"
    _, conversations = _probe(cfg, inputs)
    device = pick_device(cfg.engine.device)

    # Quantize (in place, data-free for FP8_DYNAMIC); keep the unquantized prompt logits to compare.
    name, revision = split_revision(src)  # not load_tokenizer: its left padding would be saved with the model
    tokenizer = AutoTokenizer.from_pretrained(name, revision=revision)
    # On GPUs the model is spread over every visible device (a 111B teacher fits no single one).
    model = load_causal_lm(src, device, teacher.dtype, spread=True)
    ref_logits = _prompt_logits(model, tokenizer, conversations)
    recipe = QuantizationModifier(targets="Linear", scheme=teacher.quant_scheme, ignore=list(teacher.quant_ignore))
    oneshot(model=model, recipe=recipe)
    model.save_pretrained(model_dir, save_compressed=True)
    tokenizer.save_pretrained(model_dir)  # with its chat template: later stages chat with this dir
    del model

    # Validate what was written: transformers must load it back; compare logits on the same prompts.
    fp8_model = load_causal_lm(str(model_dir), device, teacher.dtype, spread=True)
    fp8_logits = _prompt_logits(fp8_model, tokenizer, conversations)
    del fp8_model
    diffs = [(a - b).abs() for a, b in zip(ref_logits, fp8_logits)]
    top1 = [(a.argmax(-1) == b.argmax(-1)).float() for a, b in zip(ref_logits, fp8_logits)]
    return {"probe.rows": float(len(conversations)),
            "logits.max_abs_diff": max(float(d.max()) for d in diffs),
            "logits.mean_abs_diff": sum(float(d.sum()) for d in diffs) / sum(d.numel() for d in diffs),
            "logits.top1_agree": sum(float(t.sum()) for t in top1) / sum(t.numel() for t in top1),
            "fp8.checkpoint_mb": sum(p.stat().st_size for p in model_dir.glob("*.safetensors")) / 2**20}


def run_validate(cfg: DictConfig, inputs: dict[str, str], out: Path) -> dict[str, float]:
    """Translate the probe set with the unquantized (`inputs["model"]`) and the FP8 teacher
    (`inputs["fp8"]`) through the configured engine; score both against the references.

    With `engine=vllm` this is the paper's FP8-vs-BF16 throughput and quality check. Writes
    `out/probe.jsonl` (both translations per probe id).
    """
    rows, conversations = _probe(cfg, inputs)
    teacher = cfg.teacher
    params = replace(sampling_from(cfg.engine, teacher.max_new_tokens), temperature=0.0)  # greedy
    ref_gens, ref_tps = _translate(cfg.engine, inputs["model"], conversations, params, teacher.dtype)
    fp8_gens, fp8_tps = _translate(cfg.engine, inputs["fp8"], conversations, params, teacher.dtype)

    records = [{"id": r["id"], "en": r["en"], "ar": r["ar"], REF: g_ref.text, FP8: g_fp8.text,
                f"{REF}_finished": g_ref.finished, f"{FP8}_finished": g_fp8.finished}
               for r, g_ref, g_fp8 in zip(rows, ref_gens, fp8_gens)]
    write_jsonl(out / "probe.jsonl", records)

    refs = [r["ar"] for r in rows]
    ref_texts, fp8_texts = [g.text for g in ref_gens], [g.text for g in fp8_gens]
    metrics: dict[str, float] = {"probe.rows": float(len(rows))}
    for name, texts, gens, tps in ((REF, ref_texts, ref_gens, ref_tps), (FP8, fp8_texts, fp8_gens, fp8_tps)):
        scores = translation_scores(texts, refs)
        metrics[f"{name}.bleu"], metrics[f"{name}.chrf"] = scores["bleu"], scores["chrf"]
        metrics[f"{name}.tokens_per_s"] = float(tps)
        metrics[f"{name}.truncated"] = sum(not g.finished for g in gens) / len(gens)
    # On CPU, compressed-tensors de-quantizes FP8 weights to run them: a ratio there means nothing.
    if cfg.engine.backend == "vllm" or pick_device(cfg.engine.device) == "cuda":
        metrics["fp8.speedup"] = fp8_tps / ref_tps if ref_tps > 0 else math.nan
    metrics["agree.exact"] = sum(a == b for a, b in zip(ref_texts, fp8_texts)) / len(rows)
    metrics["agree.prefix"] = sum(prefix_share(a, b) for a, b in zip(ref_texts, fp8_texts)) / len(rows)
    metrics["agree.chrf"] = translation_scores(fp8_texts, ref_texts)["chrf"]  # FP8 against the unquantized
    return metrics


def _probe_config(cfg: DictConfig) -> dict:
    return {"teacher": pick(cfg.teacher, "quant_scheme", "quant_ignore", "prompt", "max_new_tokens", "probe_rows",
                            "dtype"),
            "probe": plain(cfg.eval.translation.source)}


def quantize_config(cfg: DictConfig) -> dict:
    return {**_probe_config(cfg), "engine": {"device": plain(cfg.engine.device)}}


def validate_config(cfg: DictConfig) -> dict:
    return {**_probe_config(cfg), "engine": teacher_engine(cfg)}


# llm-compressor and vLLM live in different environments: compressing (with a logits check) and
# translating the probe set through the engine are two stages.
def _fp8_gb(cfg: DictConfig) -> float | None:
    """The FP8 checkpoint: a byte a parameter, and some more for what stays in 16 bits (embeddings, head)."""
    params_b = cfg.teacher.get("params_b")
    return None if params_b is None else float(params_b) * FP8_BYTES_PER_PARAM


def quantize_memory_gb(cfg: DictConfig) -> float | None:
    """The job's host memory, sized as the merge's is (`merging.memory`): the weights go to the GPUs
    (`device_map="auto"`), but the checkpoint being read is mapped through the page cache, and
    `save_pretrained` holds one output shard on the host; the FP8 copy is read back after the
    unquantized model is gone. So the peak is about 0.5 GB + max(input checkpoint + one shard (or the
    whole FP8 checkpoint when smaller), FP8 checkpoint), asked for with the merge's headroom. For
    Command-A (111B, bf16): 0.5 + 222 + 50 = 272.5 GB, 327 GB asked. Not measured at this size (the
    merge's formula was, on LFM2 shapes)."""
    t = cfg.teacher
    if t.get("params_b") is None:
        return None
    params_b = float(t.params_b)
    fp8 = params_b * FP8_BYTES_PER_PARAM
    peak = BASE_GB + max(params_b * dtype_bytes(t.dtype) + min(fp8, SAVE_SHARD_GB), fp8)
    return with_headroom(peak)


DECLARED = (StageInfo("quantize_teacher", 2, "hala_exp.stages.quantize_teacher:run", quantize_config,
                      writes_gb=_fp8_gb, memory_gb=quantize_memory_gb, gpus="spread",
                      weights=lambda cfg, _: group_weights(cfg, "teacher"), headline=("logits.top1_agree",)),
            # the unquantized teacher, then the FP8 one: the larger is what must fit
            StageInfo("validate_teacher", 2, "hala_exp.stages.quantize_teacher:run_validate", validate_config,
                      gpus="engine", stack="vllm", weights=lambda cfg, _: group_weights(cfg, "teacher"),
                      headline=("fp8.bleu",)))
