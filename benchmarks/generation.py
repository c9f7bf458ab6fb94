"""Generation throughput: batched against one-by-one on CPU; vLLM BF16 and FP8 on a GPU.

CPU (always): a tiny LFM2 through the transformers engine, the same prompts one at a time and in
batches; prints tokens/s and the ratio batched / one-by-one.
GPU (only where CUDA and vLLM are installed): a randomly initialised model shaped like LFM2-1.2B
through vLLM in BF16 and with FP8 weights + dynamic FP8 activations; prints tokens/s and the ratio
FP8 / BF16 (the paper reports about 2x for its 111B teacher). FP8 here is vLLM's own `quantization=fp8`
of the same BF16 checkpoint (llm-compressor lives in another environment); the pipeline's
`validate_teacher` step measures the llm-compressor checkpoint itself.

    python benchmarks/generation.py [--prompts 32] [--new-tokens 16] [--batches 1,8,32] [--gpu-prompts 512]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from omegaconf import OmegaConf

from hala_exp.data.samples_text import sample_texts
from hala_exp.engines.base import SamplingParams

# LiquidAI/LFM2-1.2B's shape (config.json): 16 blocks, 10 short-convolution and 6 attention.
LFM2_1_2B = {"hidden_size": 2048, "intermediate_size": 8192, "num_attention_heads": 32, "num_key_value_heads": 8,
             "vocab_size": 65536, "max_position_embeddings": 128000, "norm_eps": 1e-5, "conv_L_cache": 3,
             "layer_types": ["conv", "conv", "full_attention", "conv", "conv", "full_attention", "conv", "conv",
                             "full_attention", "conv", "full_attention", "conv", "full_attention", "conv",
                             "full_attention", "conv"]}
LFM2_1_2B["num_hidden_layers"] = len(LFM2_1_2B["layer_types"])  # Lfm2Config: one layer type per layer


def _prompts(n: int) -> list[list[dict[str, str]]]:
    texts = [t for t in sample_texts() if t.strip()]
    return [[{"role": "user", "content": f"Translate from English to Arabic: {texts[i % len(texts)]}"}]
            for i in range(n)]


def cpu_section(n: int, new_tokens: int, batches: list[int]) -> None:
    from hala_exp.engines.hf import TransformersEngine
    from hala_exp.models.tiny import save_tiny

    with tempfile.TemporaryDirectory() as d:
        save_tiny(Path(d), arch="lfm2", texts=sample_texts(), vocab_size=1024, hidden_size=256, layers=4,
                  heads=4, intermediate_size=512, max_position=512, seed=0)
        params = SamplingParams(max_new_tokens=new_tokens)
        conversations = _prompts(n)
        rows = []
        for batch in batches:
            engine = TransformersEngine(d, OmegaConf.create({"device": "cpu", "dtype": "float32",
                                                             "batch_size": batch}))
            engine.chat(conversations[:2], params)  # warm-up
            start = time.perf_counter()
            gens = engine.chat(conversations, params)
            seconds = time.perf_counter() - start
            rows.append((batch, sum(g.new_tokens for g in gens) / seconds, seconds))
            engine.close()
    base = rows[0][1]
    print(f"CPU, tiny LFM2 (hidden 256, 4 blocks), {n} prompts x up to {new_tokens} new tokens, transformers")
    print("| batch | tokens/s | seconds | ratio vs one-by-one |\n|---|---|---|---|")
    for batch, tps, seconds in rows:
        print(f"| {batch} | {tps:.0f} | {seconds:.1f} | {tps / base:.2f}x |")


def gpu_section(n: int, new_tokens: int) -> None:
    import torch

    if not torch.cuda.is_available():
        print("\nGPU section skipped: no CUDA device.")
        return
    try:
        import vllm
    except ImportError:
        print("\nGPU section skipped: vLLM is not installed in this environment (requirements/vllm.txt).")
        return
    from transformers import Lfm2Config, Lfm2ForCausalLM

    from hala_exp.engines.vllm import llm_kwargs
    from hala_exp.models.tiny import train_tokenizer

    results = {}
    with tempfile.TemporaryDirectory() as d:
        tok = train_tokenizer(sample_texts(), 1024)
        config = Lfm2Config(**LFM2_1_2B, block_auto_adjust_ff_dim=False, tie_word_embeddings=True,
                            pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                            eos_token_id=tok.eos_token_id, dtype="bfloat16")
        torch.manual_seed(0)
        model = Lfm2ForCausalLM(config).to(torch.bfloat16)
        params_b = sum(p.numel() for p in model.parameters()) / 1e9
        model.save_pretrained(d)
        tok.save_pretrained(d)
        del model
        prompts = [tok.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in _prompts(n)]
        sampling = vllm.SamplingParams(max_tokens=new_tokens, temperature=0.0, ignore_eos=True)
        for name, quantization in (("bf16", None), ("fp8", "fp8")):
            engine_cfg = OmegaConf.create({"dtype": "bfloat16", "tensor_parallel_size": 1, "max_model_len": 2048,
                                           "gpu_memory_utilization": 0.8, "quantization": quantization,
                                           "enable_prefix_caching": "auto", "seed": 0, "max_num_seqs": None,
                                           "enforce_eager": False})
            llm = vllm.LLM(**llm_kwargs(engine_cfg, d, "bfloat16"))
            llm.generate(prompts[:8], sampling, use_tqdm=False)  # warm-up (graphs, kernels)
            start = time.perf_counter()
            outs = llm.generate(prompts, sampling, use_tqdm=False)
            seconds = time.perf_counter() - start
            results[name] = (sum(len(o.outputs[0].token_ids) for o in outs) / seconds, seconds)
            del llm
            torch.cuda.empty_cache()
    print(f"\nGPU ({torch.cuda.get_device_name(0)}), LFM2-1.2B-shaped random model ({params_b:.2f}B), vLLM "
          f"{vllm.__version__}, {n} prompts x {new_tokens} new tokens")
    print("| weights | tokens/s | seconds |\n|---|---|---|")
    for name, (tps, seconds) in results.items():
        print(f"| {name} | {tps:.0f} | {seconds:.1f} |")
    print(f"ratio FP8 / BF16: {results['fp8'][0] / results['bf16'][0]:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=16)
    ap.add_argument("--batches", default="1,8,32", help="CPU batch sizes; the first is the baseline")
    ap.add_argument("--gpu-prompts", type=int, default=512)
    ap.add_argument("--gpu-new-tokens", type=int, default=256)
    ap.add_argument("--skip-cpu", action="store_true")
    args = ap.parse_args()
    if not args.skip_cpu:
        cpu_section(args.prompts, args.new_tokens, [int(b) for b in args.batches.split(",")])
    gpu_section(args.gpu_prompts, args.gpu_new_tokens)


if __name__ == "__main__":
    main()
