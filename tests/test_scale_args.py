"""Config -> vLLM arguments and -> `accelerate launch` commands, as pure functions (no GPU needed)."""

from __future__ import annotations

import json
import sys

import pytest
import yaml

from hala_exp.config import ConfigError, compose, validate
from hala_exp.engines.backends import make_engine
from hala_exp.engines.base import SamplingParams
from hala_exp.engines.vllm import llm_kwargs, prefix_caching, sampling_kwargs, to_generation
from hala_exp.pipeline.dispatch import training_launch
from hala_exp.training.launch import MACHINE_RANK, MAIN_HOST, SPEC, accelerate_command, choose_strategy, config_file


def test_vllm_engine_config_maps_to_llm_kwargs(tiny_llama):
    e = compose(["engine=vllm", "engine.tensor_parallel_size=4", "engine.max_model_len=2048",
                 "engine.gpu_memory_utilization=0.85", "engine.quantization=fp8"]).engine
    kw = llm_kwargs(e, str(tiny_llama), "bfloat16")
    assert kw == {"model": str(tiny_llama), "tokenizer": str(tiny_llama), "dtype": "bfloat16",
                  "tensor_parallel_size": 4, "gpu_memory_utilization": 0.85, "enable_prefix_caching": True,
                  "seed": 0, "enforce_eager": False, "max_model_len": 2048, "quantization": "fp8"}
    hub = llm_kwargs(compose(["engine=vllm"]).engine, "CohereLabs/command-a-translate-08-2025@abc123")
    assert hub["model"] == "CohereLabs/command-a-translate-08-2025" and hub["revision"] == "abc123"
    assert "quantization" not in hub  # vLLM reads compressed-tensors FP8 from the checkpoint's config


def test_prefix_caching_is_off_for_lfm2_unless_forced(tiny_lfm2, tiny_llama):
    assert json.loads((tiny_lfm2 / "config.json").read_text())["model_type"] == "lfm2"
    assert prefix_caching("auto", str(tiny_lfm2)) is False
    assert prefix_caching("auto", str(tiny_llama)) is True
    assert prefix_caching("auto", "LiquidAI/LFM2-1.2B") is False
    assert prefix_caching("auto", "Qwen/Qwen2.5-3B-Instruct") is True
    assert prefix_caching("on", str(tiny_lfm2)) is True and prefix_caching("off", str(tiny_llama)) is False
    with pytest.raises(ConfigError, match="engine.enable_prefix_caching = 'yes'"):
        validate(compose(["engine=vllm", "engine.enable_prefix_caching=yes"]), check_data=False)
    with pytest.raises(ConfigError, match="engine.gpu_memory_utilization = 1.5"):
        validate(compose(["engine=vllm", "engine.gpu_memory_utilization=1.5"]), check_data=False)


def test_sampling_params_and_outputs():
    assert sampling_kwargs(SamplingParams(max_new_tokens=64)) == {
        "max_tokens": 64, "temperature": 0.0, "seed": 0, "skip_special_tokens": True}
    sampled = sampling_kwargs(SamplingParams(max_new_tokens=8, temperature=0.7, top_p=0.9, seed=3))
    assert sampled["top_p"] == 0.9 and sampled["temperature"] == 0.7 and sampled["seed"] == 3

    class Out:  # the fields of vllm.CompletionOutput that the engine reads
        def __init__(self, text, token_ids, finish_reason):
            self.text, self.token_ids, self.finish_reason = text, token_ids, finish_reason

    g = to_generation(Out(" مرحبا ", [5, 6, 7], "length"))
    assert (g.text, g.finished, g.new_tokens) == ("مرحبا", False, 3)
    assert to_generation(Out("x", [1], "stop")).finished


@pytest.mark.skipif("vllm" in sys.modules or __import__("importlib").util.find_spec("vllm") is not None,
                    reason="vLLM is installed here")
def test_vllm_backend_without_vllm_says_how_to_fix(tiny_llama):
    with pytest.raises(RuntimeError, match=r"vLLM is not installed.*requirements/vllm.txt"):
        make_engine(compose(["engine=vllm"]).engine, str(tiny_llama))


def test_strategy_follows_model_size():
    assert choose_strategy("auto", 0.35, 1.5) == "ddp"
    assert choose_strategy("auto", 1.2, 1.5) == "ddp"
    assert choose_strategy("auto", 8.7, 1.5) == "fsdp"
    assert choose_strategy("auto", None, 1.5) == "fsdp"
    assert choose_strategy("zero3", 0.35, 1.5) == "zero3"
    for strategy in ("ddp", "fsdp", "zero3"):  # accelerate's own loader reads each config file
        from accelerate.commands.config.config_args import ClusterConfig

        cfg = ClusterConfig.from_yaml_file(str(config_file(strategy)))
        assert cfg.mixed_precision == "bf16"
        assert yaml.safe_load(config_file(strategy).read_text())["distributed_type"] == cfg.distributed_type.value


def test_accelerate_command_single_and_multi_node():
    one = accelerate_command("/env/bin/python", "ddp", 8)
    assert one[:3] == ["/env/bin/python", "-m", "accelerate.commands.launch"]
    assert one[one.index("--num_processes") + 1] == "8" and one[one.index("--num_machines") + 1] == "1"
    assert one[one.index("--config_file") + 1].endswith("accelerate/ddp.yaml")
    assert one[-3:] == ["-m", "hala_exp.step_process", SPEC]
    multi = accelerate_command("/env/bin/python", "fsdp", 8, nodes=2, port=29600)
    assert multi[0] == "/env/bin/python" and "srun" not in multi  # one launcher per node, started by the job's task

    def arg(name: str) -> str:
        return multi[multi.index(name) + 1]

    assert (arg("--num_processes"), arg("--num_machines"), arg("--main_process_port")) == ("16", "2", "29600")
    assert (arg("--machine_rank"), arg("--main_process_ip")) == (MACHINE_RANK, MAIN_HOST)  # filled per node
    assert arg("--rdzv_backend") == "static"  # global rank 0 on machine 0, the node that commits
    assert arg("--config_file").endswith("fsdp.yaml") and multi[-3:] == ["-m", "hala_exp.step_process", SPEC]


def test_sharded_strategies_save_full_weights():
    """FSDP checkpoints stay sharded (the final save gathers, in hala_exp/training/distributed.py);
    ZeRO-3 gathers its 16-bit weights on save, or Trainer.save_model would write none."""
    fsdp = yaml.safe_load(config_file("fsdp").read_text())["fsdp_config"]
    assert fsdp["fsdp_version"] == 2 and fsdp["fsdp_state_dict_type"] == "SHARDED_STATE_DICT"
    zero3 = yaml.safe_load(config_file("zero3").read_text())["deepspeed_config"]
    assert zero3["zero_stage"] == 3 and zero3["zero3_save_16bit_model"] is True


def test_zero3_across_nodes_runs_one_standard_launcher_per_node():
    """accelerate's own parsing and DeepSpeed launch helper, on node 1's launcher as nodes.for_node
    fills it in: torchrun on this node (nnodes 2, node rank 1, rank 0's host), never the `deepspeed`
    runner with a hostfile and pdsh over ssh, which needs what a Slurm allocation does not give."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_deepspeed_cmd_env

    from hala_exp.launch.nodes import Allocation, for_node

    argv = for_node(accelerate_command("/env/bin/python", "zero3", 8, nodes=2, port=29600),
                    Allocation(nodes=2, node_rank=1, main_host="gpu07", job_id="41", restart=0))
    args = launch_command_parser().parse_args(argv[argv.index("accelerate.commands.launch") + 1:])
    args, defaults, _ = _validate_launch_command(args)
    assert args.use_deepspeed
    args.deepspeed_fields_from_accelerate_config = ",".join(defaults.deepspeed_config)  # as launch_command does
    cmd, env = prepare_deepspeed_cmd_env(args)
    assert cmd is None, cmd  # None: accelerate runs torch.distributed.run on this node, as for DDP and FSDP
    assert (args.nnodes, args.nproc_per_node, args.node_rank) == ("2", "8", 1)
    assert (args.master_addr, args.master_port, args.rdzv_backend) == ("gpu07", "29600", "static")
    assert env["ACCELERATE_DEEPSPEED_ZERO_STAGE"] == "3"


def test_training_stages_launch_by_config():
    cfg = compose(["experiment=hala_9b", "runtime.gpus_per_node=8"])
    sft = training_launch(cfg, "sft", "/env/bin/python")
    assert sft is not None and any(a.endswith("fsdp.yaml") for a in sft)  # Fanar-9B: sharded
    translator = training_launch(cfg, "train_translator", None)
    assert translator[0] == sys.executable and any(a.endswith("ddp.yaml") for a in translator)  # LFM2-1.2B
    assert training_launch(cfg, "judge", None) is None
    assert training_launch(compose([]), "sft", None) is None  # one device: in-process


@pytest.mark.parametrize("stage", ["sft_sources", "cpt", "dpo"])
def test_every_training_stage_runs_under_accelerate(stage):
    cfg = compose(["recipe=allam", "runtime.gpus_per_node=8", "dpo=tiny"])
    launch = training_launch(cfg, stage, None)
    assert launch is not None and launch[1:3] == ["-m", "accelerate.commands.launch"]
    assert launch[launch.index("--num_processes") + 1] == "8"


def test_sft_switches_reach_sftconfig():
    import dataclasses

    from trl import SFTConfig

    fields = {f.name for f in dataclasses.fields(SFTConfig)}
    train = compose(["train=sft"]).train
    for switch in ("bf16", "packing", "padding_free", "use_liger_kernel", "gradient_checkpointing"):
        assert switch in train and switch in fields


def test_lighteval_runs_its_transformers_back_end_in_the_models_dtype_with_a_per_run_cache(tiny_lfm2, tmp_path):
    """One back-end on every device (README, "Evaluation on GPUs"): bf16 on GPUs for engine.dtype=auto,
    never the float32 a fine-tune is saved in; float32 on CPU; an explicit engine.dtype wins."""
    from lighteval.pipeline import ParallelismManager

    from hala_exp.evaluation.lighteval_run import VIEW, _model_view, model_config

    view = _model_view(str(tiny_lfm2), tmp_path)  # the fresh symlink folder lighteval is given
    gpu, launcher = model_config(view, 8, "cuda", str(tmp_path / VIEW / "cache"), "auto")
    assert launcher == ParallelismManager.ACCELERATE and type(gpu).__name__ == "TransformersModelConfig"
    assert gpu.dtype == "bfloat16" and gpu.cache_dir.startswith(str(tmp_path / VIEW))  # deleted around every run
    cpu, _ = model_config(view, 8, "cpu", str(tmp_path / VIEW / "cache"), "auto")
    assert cpu.dtype == "float32"
    assert model_config(view, 8, "cpu", str(tmp_path / VIEW / "cache"), "bfloat16")[0].dtype == "bfloat16"
    engine = compose(["engine=vllm"]).engine  # engine=vllm still evaluates through transformers, on the GPU
    assert model_config(view, 8, engine.device, str(tmp_path / VIEW / "cache"), engine.dtype)[0].dtype == "bfloat16"


def test_the_generation_benchmarks_lfm2_1_2b_shape_is_a_valid_lfm2_config():
    import sys
    from pathlib import Path

    from transformers import Lfm2Config

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from generation import LFM2_1_2B

    config = Lfm2Config(**LFM2_1_2B, block_auto_adjust_ff_dim=False, tie_word_embeddings=True)
    assert config.num_hidden_layers == 16 and config.layer_types.count("full_attention") == 6
