"""The package's layers, top to bottom: a module imports its own layer and those below, never one above
(late imports inside functions included). README "Layout" lists the same layers."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "hala_exp"

# (layer, the modules and packages in it); a module belongs to the longest prefix that names it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("commands", ("cli", "__main__", "report", "search", "table", "verify", "step_process", "results_tables",
                  "allam.fertility_cli", "config.checks.before_launch")),
    ("config", ("config",)),
    ("compile", ("plan",)),
    ("run", ("pipeline", "launch", "tracking", "console", "plan.compiled", "plan.frozen")),
    ("graph", ("recipes", "stages")),
    ("libraries", ("training", "engines", "evaluation", "merging", "allam", "row_translation", "shards")),
    ("base", ("data", "models", "json_files", "arabic_text", "cache_dir", "domains", "progress", "stopping",
              "fence", "stage_records", "table_cells", "config.errors", "config.schema", "config.sweeps", "")),
]


def layer_of(module: str) -> int:
    """Index in LAYERS of `module` (`hala_exp.x.y`): the layer of the longest prefix naming it."""
    rel = module.removeprefix("hala_exp").removeprefix(".")
    found = [(len(p), i) for i, (_, prefixes) in enumerate(LAYERS) for p in prefixes
             if rel == p or (p and rel.startswith(p + "."))]
    assert found, f"{module} is in no layer: add it to LAYERS (and README, Layout)"
    return max(found)[1]


def _modules() -> dict[str, Path]:
    return {".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): p
            for p in PACKAGE.rglob("*.py")}


def upward_imports(modules: dict[str, Path]) -> list[str]:
    def known(name: str) -> str:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    found = []
    for name, path in sorted(modules.items()):
        own = layer_of(name)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("hala_exp"):
                targets = [known(f"{node.module}.{a.name}") for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [known(a.name) for a in node.names if a.name.startswith("hala_exp")]
            for target in targets:
                if target and layer_of(target) < own:
                    found.append(f"{name} ({LAYERS[own][0]}) imports {target} ({LAYERS[layer_of(target)][0]})")
    return sorted(set(found))


def test_no_module_imports_a_layer_above_its_own():
    assert upward_imports(_modules()) == []


def test_the_check_finds_an_upward_import(tmp_path):
    module = tmp_path / "training_probe.py"
    module.write_text("from hala_exp.pipeline.runner import run_pipeline\n", encoding="utf-8")
    assert upward_imports({**_modules(), "hala_exp.training.probe": module}) == [
        "hala_exp.training.probe (libraries) imports hala_exp.pipeline.runner (run)"]
