"""Stage 0: read one data source, check every row, and write its normalised snapshot (rows.parquet).

Runs before every model step; see hala_exp/data/snapshot.py for the checks and hala_exp/data/content_keys.py
for the key. `lineage.json` records what was read: the file and its hash, or the hub dataset and
the commit it resolved to.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from hala_exp.data.snapshot import write_snapshot
from hala_exp.json_files import write_json
from hala_exp.stages.declaration import StageInfo, source_slice


def run(cfg: DictConfig, inputs: dict[str, str], out: Path) -> dict[str, float]:
    key = cfg.messages.key  # the config key, for messages only: the same source under two keys is one step
    source = cfg.source
    if cfg.content.get("hub_commit"):  # load the very commit the key was made from, not what main is now
        source = OmegaConf.merge(source, {"revision": cfg.content.hub_commit})
    if cfg.messages.get("streaming"):  # how the rows are read, not which: outside the key
        source = OmegaConf.merge(source, {"streaming": True})
    metrics = write_snapshot(cfg.kind, source, cfg.name, key, out)
    write_json(out / "lineage.json", {"config_key": key, "source": OmegaConf.to_container(cfg.source),
                                      "content": OmegaConf.to_container(cfg.content)})
    return metrics


def key_config(cfg: DictConfig, kind: str, src: DictConfig, row_source: str) -> dict:
    """The source by its content, not its name (`row_source` is what its rows' `source` column says).
    `streaming` changes how a hub dataset is read, not its rows: left out, with the step's `messages`
    carrying it to the run."""
    from hala_exp.data.content_keys import content_identity

    return {"kind": kind, "name": row_source, "source": source_slice(src),
            "content": content_identity(src, Path(cfg.store).expanduser() / ".registry" / "hashes")}


# A W&B run per source would only crowd the project's runs table: the counts are in results.json.
# No headline either: the rows it kept and dropped reach the metrics of the steps that read it.
DECLARED = (StageInfo("snapshot", 1, "hala_exp.stages.snapshot:run", key_config, tracked=False, gpus="none"),)
