"""SFT resumed from its last checkpoint ends with the same weights and the same whole-run metrics
as an uninterrupted run."""

from __future__ import annotations

import shutil

import pytest
import torch
from omegaconf import OmegaConf
from safetensors.torch import load_file

from hala_exp.data.samples_text import sample_texts
from hala_exp.training.sft import Hyper, last_checkpoint, pair, train_sft

TRAIN = OmegaConf.create({"name": "t", "epochs": 1, "max_steps": 6, "warmup_ratio": 0.0,
                          "lr_scheduler": "linear", "weight_decay": 0.0, "packing": False,
                          "completion_only_loss": True, "use_cpu": True, "bf16": False,
                          "gradient_checkpointing": False, "logging_steps": 1, "save_steps": 2, "seed": 0})


def _weights(model_dir):
    return load_file(str(model_dir / "model.safetensors"))


# (logging_steps, save_steps): aligned, and logging intervals that straddle the checkpoints
@pytest.mark.parametrize(("logging_steps", "save_steps"), [(1, 2), (3, 2)])
def test_resume_from_last_checkpoint_matches_an_uninterrupted_run(tiny_lfm2, tmp_path, logging_steps, save_steps):
    train = OmegaConf.merge(TRAIN, {"logging_steps": logging_steps, "save_steps": save_steps})
    texts = sample_texts()[:40]
    rows = [pair(f"Translate: {a}", b) for a, b in zip(texts[::2], texts[1::2], strict=True)]
    hyper = Hyper(learning_rate=1e-3, global_batch=2, micro_batch=2, max_length=64)

    straight = train_sft(str(tiny_lfm2), rows, tmp_path / "a" / "model", hyper, train,
                         checkpoints=tmp_path / "ckpt_a")
    assert last_checkpoint(tmp_path / "ckpt_a").endswith("checkpoint-6")

    # What a job killed after step 4 leaves behind: its checkpoints up to step 4 and nothing else.
    (tmp_path / "ckpt_b").mkdir()
    shutil.copytree(tmp_path / "ckpt_a" / "checkpoint-4", tmp_path / "ckpt_b" / "checkpoint-4")
    resumed = train_sft(str(tiny_lfm2), rows, tmp_path / "b" / "model", hyper, train,
                        checkpoints=tmp_path / "ckpt_b")

    assert resumed["steps"] == straight["steps"] == 6
    assert (resumed["resumed_at_step"], straight["resumed_at_step"]) == (4, 0)
    # Trainer's own training_loss of the resumed process sums steps 5-6 only, over all 6 steps
    assert resumed["train_loss"] == pytest.approx(straight["train_loss"], rel=1e-6)
    assert resumed["first_loss"] == straight["first_loss"]
    assert resumed["last_loss"] == straight["last_loss"]
    a, b = _weights(tmp_path / "a" / "model"), _weights(tmp_path / "b" / "model")
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0, msg=name)
    start = _weights(tiny_lfm2) if (tiny_lfm2 / "model.safetensors").is_file() else None
    if start is not None:  # training moved the weights: the comparison above is not vacuous
        assert any(not torch.equal(start[n], a[n]) for n in a if n in start)


def test_no_checkpoint_dir_keeps_nothing(tiny_lfm2, tmp_path):
    rows = [pair("Translate: hello", "مرحبا")] * 4
    train_sft(str(tiny_lfm2), rows, tmp_path / "m" / "model", Hyper(1e-3, 2, 1, 32), TRAIN, max_steps=2)
    assert not (tmp_path / "m" / "model.trainer").exists()
    assert last_checkpoint(None) is None


def test_a_checkpoint_killed_while_writing_its_state_is_not_resumed_from(tmp_path):
    """SIGKILL during trainer_state.json's write (the file is written last) leaves it empty or cut
    short: the checkpoint before it is the newest complete one."""
    for step, state in ((2, '{"global_step": 2}'), (4, ""), (6, '{"global_step": ')):
        (tmp_path / f"checkpoint-{step}").mkdir()
        (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text(state, encoding="utf-8")
    assert last_checkpoint(tmp_path) == str(tmp_path / "checkpoint-2")
