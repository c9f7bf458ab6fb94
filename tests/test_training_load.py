"""How training loads and batches a model, decided from its config (hala_exp.models.for_training),
checked on tiny models built from configs through the trainer our SFTConfig sets up.

- LFM2 with `packing: true` (conf/train/sft.yaml): every sequence of a training batch gets the
  logits it gets alone (TRL's padding-free packing let each one's first tokens see the one before
  through the short convolutions).
- Gemma-2 (Fanar-1-9B): the trained model applies attention logit softcapping, as vLLM does.
- Under a distributed launch the model loads in float32 without a device map.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from hala_exp.models.for_training import TRAINED_DTYPE, init_kwargs, packing_leak
from hala_exp.models.loading import model_config
from hala_exp.training.sft import Hyper, pair, sft_config

# conf/train/sft.yaml as the cluster runs it, on the CPU
TRAIN = OmegaConf.create({"epochs": 1, "max_steps": 1, "warmup_ratio": 0.0, "lr_scheduler": "constant",
                          "weight_decay": 0.0, "packing": True, "completion_only_loss": True, "use_cpu": True,
                          "bf16": False, "gradient_checkpointing": False, "logging_steps": 1, "seed": 0})
ROWS = [pair("Translate: good morning", "صباح الخير يا صديقي"), pair("Say hello", "Hello there, friend"),
        pair("What is two plus two?", "Four."), pair("قل شيئا", "شيء ما هنا")]


def _trainer(model: Path, tmp_path: Path, rows: list[dict] = ROWS):
    from datasets import Dataset
    from trl import SFTTrainer

    from hala_exp.models.loading import load_tokenizer

    tokenizer = load_tokenizer(str(model))
    tokenizer.padding_side = "right"
    args = sft_config(str(model), Hyper(1e-3, len(rows), len(rows), 128), TRAIN, str(tmp_path / "trainer"), max_steps=1)
    return SFTTrainer(model=str(model), args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer)


def _sequences(batch: dict) -> list[torch.Tensor]:
    """Each training sequence's token positions in the batch: (row, positions) as the collator laid
    them out, padding-free (boundaries where position_ids restart) or padded (attention_mask)."""
    if "position_ids" in batch and "attention_mask" not in batch:
        pos = batch["position_ids"][0]
        starts = [*(pos == 0).nonzero().flatten().tolist(), len(pos)]
        return [(0, torch.arange(a, b)) for a, b in zip(starts, starts[1:])]
    return [(i, batch["attention_mask"][i].nonzero().flatten()) for i in range(len(batch["input_ids"]))]


@pytest.fixture(scope="module")
def lfm2_strong_conv(tiny_lfm2, tmp_path_factory) -> Path:
    """The tiny LFM2 with its short-convolution weights scaled up, so what a convolution carries
    from one token to the next stands far above float rounding."""
    from transformers import AutoModelForCausalLM

    from hala_exp.models.loading import load_tokenizer

    out = tmp_path_factory.mktemp("lfm2_conv")
    model = AutoModelForCausalLM.from_pretrained(tiny_lfm2)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("conv.conv.weight"):
                p.mul_(30.0)
    model.save_pretrained(out)
    load_tokenizer(str(tiny_lfm2)).save_pretrained(out)
    return out


def test_lfm2_sequences_in_a_training_batch_see_only_themselves(lfm2_strong_conv, tmp_path, caplog):
    assert packing_leak(model_config(str(lfm2_strong_conv))) is not None  # its conv layers
    with caplog.at_level("WARNING", logger="hala_exp"):
        trainer = _trainer(lfm2_strong_conv, tmp_path)
    batch = next(iter(trainer.get_train_dataloader()))
    model = trainer.model.eval()
    seqs = _sequences(batch)
    assert len(seqs) == len(ROWS)  # every row in this one batch
    with torch.no_grad():
        together = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
        for row, positions in seqs:
            ids = batch["input_ids"][row, positions]
            alone = model(input_ids=ids[None]).logits[0]
            torch.testing.assert_close(together[row, positions], alone, atol=1e-5, rtol=1e-5)
    assert "padding batches instead" in caplog.text and "conv" in caplog.text  # the reason, logged


def test_attention_only_models_keep_packing(tiny_llama, tmp_path):
    assert packing_leak(model_config(str(tiny_llama))) is None
    args = sft_config(str(tiny_llama), Hyper(1e-3, 2, 2, 128), TRAIN, str(tmp_path / "t"), max_steps=1)
    assert args.packing is True


@pytest.fixture(scope="module")
def tiny_gemma2(tiny_lfm2, tmp_path_factory) -> Path:
    """Fanar-1-9B's architecture (Gemma-2) at toy size, with large enough weights that the
    attention logits reach the cap."""
    from transformers import Gemma2Config, Gemma2ForCausalLM

    from hala_exp.models.loading import load_tokenizer

    out = tmp_path_factory.mktemp("gemma2")
    tokenizer = load_tokenizer(str(tiny_lfm2))
    config = Gemma2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                          num_attention_heads=2, num_key_value_heads=1, head_dim=16, query_pre_attn_scalar=16,
                          attn_logit_softcapping=2.0, final_logit_softcapping=30.0, initializer_range=0.5,
                          pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                          eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    Gemma2ForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def test_gemma2_trains_with_its_attention_logits_capped(tiny_gemma2, tmp_path):
    from transformers import AutoModelForCausalLM

    trainer = _trainer(tiny_gemma2, tmp_path, ROWS[:2])
    model = trainer.model.eval()
    ids = torch.tensor([list(range(3, 40))])
    capped = AutoModelForCausalLM.from_pretrained(tiny_gemma2, attn_implementation="eager").eval()
    uncapped = AutoModelForCausalLM.from_pretrained(tiny_gemma2, attn_implementation="sdpa").eval()
    with torch.no_grad():
        trained, want, without = model(ids).logits, capped(ids).logits, uncapped(ids).logits
    assert (want - without).abs().max() > 1e-2  # the cap matters for these weights
    torch.testing.assert_close(trained, want, atol=1e-5, rtol=1e-5)
    assert model.config._attn_implementation == "eager" and model.dtype == torch.float32


def test_a_distributed_launch_loads_unplaced_in_the_training_dtype(tiny_lfm2, tiny_gemma2):
    """TRL drops `device_map="auto"` only for DDP and DeepSpeed; under FSDP each of the node's 8 ranks
    would spread a full copy over all its GPUs. Ours says None whenever several processes train."""
    lfm2 = model_config(str(tiny_lfm2))
    assert init_kwargs(lfm2, world_size=8) == {"dtype": TRAINED_DTYPE, "device_map": None}
    assert init_kwargs(lfm2, world_size=1) == {"dtype": TRAINED_DTYPE}  # one process: TRL's own placement
    assert init_kwargs(model_config(str(tiny_gemma2)), world_size=16) == {
        "dtype": TRAINED_DTYPE, "attn_implementation": "eager", "device_map": None}


def test_gemma2_is_evaluated_with_its_attention_logits_capped(tiny_gemma2, tmp_path):
    """The transformers-side evaluations (held-out loss, our transformers engine, lighteval's
    transformers back-end) load a capped model with the attention that applies the cap, as vLLM does."""
    from transformers import AutoModelForCausalLM

    from hala_exp.evaluation.lighteval_run import model_config as lighteval_model
    from hala_exp.models.loading import load_causal_lm

    ids = torch.tensor([list(range(3, 40))])
    loaded = load_causal_lm(str(tiny_gemma2), "cpu", "float32")
    capped = AutoModelForCausalLM.from_pretrained(tiny_gemma2, attn_implementation="eager").eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids).logits, capped(ids).logits, atol=1e-5, rtol=1e-5)
    cfg, _ = lighteval_model(str(tiny_gemma2), 2, "cpu", str(tmp_path / "cache"))
    assert cfg.model_loading_kwargs == {"attn_implementation": "eager"}


def test_a_model_without_a_cap_keeps_the_default_attention(tiny_lfm2, tmp_path):
    from hala_exp.evaluation.lighteval_run import model_config as lighteval_model
    from hala_exp.models.loading import load_causal_lm

    assert lighteval_model(str(tiny_lfm2), 2, "cpu", str(tmp_path / "cache"))[0].model_loading_kwargs == {}
    assert load_causal_lm(str(tiny_lfm2), "cpu", "float32").config._attn_implementation != "eager"
