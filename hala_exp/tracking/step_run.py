"""One W&B run around one executed step (job_type = the stage), opened only when a step runs.

Logged: the flattened resolved config plus the step's own name, key and inputs; the stage's metrics,
its wall time and throughput (a training step's batch split also into the config, as `step.batch.*`);
and its output as a reference artifact (a path, not an upload, unless `logger.upload_artifacts`). The
run id is kept in the store per step key and copied into the stage directory as `tracking.json`, so a
requeued execution continues the same run.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import Any

from hala_exp import stage_records
from hala_exp.json_files import write_json
from hala_exp.pipeline.store import Store
from hala_exp.tracking.run_ids import claim_run_id
from hala_exp.tracking.secrets import scrub, scrub_text
from hala_exp.tracking.stage_reports import RunSink

TRACKING_FILE = "tracking.json"
# Counts a stage reports, turned into per-second throughput over the stage's wall time.
COUNTS = {"rows": "rows", "candidates": "candidates", "translation.n": "items", "steps": "train_steps"}
# What of a count was done before this attempt (a resumed training run): not in its wall time.
DONE_BEFORE = {"steps": "resumed_at_step"}
_attached: RunSink | None = None  # the sink of the step running in this process


def _artifact_name(name: str) -> str:
    """W&B artifact names allow letters, digits, '-', '_' and '.' only."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name)


def _uri(path_or_id: str) -> str:
    p = Path(path_or_id)
    return p.resolve().as_uri() if p.exists() else f"https://huggingface.co/{path_or_id}"


def own_service() -> None:
    """Forget a W&B service token inherited from a parent process (wandb exports it as WANDB_SERVICE).

    Sharing the parent's service ties this step's run to it: a step killed with SIGKILL leaves its run
    open there, so its resumed attempt is refused ("run ID ... is in use"), and on another Slurm node
    the token names a socket that is not there. A step starts its own service, which ends with it.
    """
    token = os.environ.get("WANDB_SERVICE", "")
    match = re.match(r"[^-]+-(\d+)-", token)
    if token and (match is None or int(match.group(1)) != os.getpid()):
        del os.environ["WANDB_SERVICE"]


class StepRun:
    """A no-op without a tracking context in the spec; otherwise start / finish / fail one W&B run."""

    def __init__(self, spec: dict[str, Any]):
        self.spec = spec
        self.ctx: dict[str, Any] | None = spec.get("tracking")
        self.run: Any = None
        self.sink: RunSink | None = None
        self.info: dict[str, Any] | None = None

    def start(self, work: Path) -> None:
        if not self.ctx:
            return
        import wandb

        ctx, spec = self.ctx, self.spec
        about = {"backend": ctx["backend"], "project": ctx["project"], "entity": ctx["entity"],
                 "group": ctx["group"], "job_type": spec["stage"]}
        run_id = claim_run_id(Path(spec["store"]), spec["name"], spec["key"], uuid.uuid4().hex[:12], about)
        self.info = {**about, "run_id": run_id, "mode": ctx["mode"], "dir": ctx["dir"]}  # dir: offline runs
        write_json(work / TRACKING_FILE, self.info)  # ends up in the committed stage directory
        label = f" [{ctx['label']}]" if ctx["label"] else ""
        config = {**ctx["config"], "step.name": spec["name"], "step.stage": spec["stage"],
                  "step.key": spec["key"], "step.version": spec["version"]}
        config.update({f"step.inputs.{k}": v for k, v in spec["inputs"].items()})
        config.update({f"step.input_keys.{k}": v for k, v in spec["input_keys"].items()})
        Path(ctx["dir"]).mkdir(parents=True, exist_ok=True)
        own_service()
        self.run = wandb.init(
            project=ctx["project"], entity=ctx["entity"], group=ctx["group"], job_type=spec["stage"],
            name=scrub_text(f"{ctx['experiment']} {spec['name']}{label}"), id=run_id, resume="allow",
            mode=ctx["mode"], dir=ctx["dir"], config=scrub(config), reinit="create_new",
            settings=wandb.Settings(console="off", disable_git=True, save_code=False, silent=True,
                                    x_disable_stats=True))
        # what the stage reports while it runs (curves, progress, tables) goes into this run; a sink
        # an earlier step left attached (its commit raised before `finish`) stops receiving
        global _attached
        if _attached is not None:
            stage_records.detach(_attached)
        self.sink = _attached = RunSink(self.run)
        stage_records.attach(self.sink)
        if ctx["mode"] == "online":  # declaring inputs needs the server; offline runs keep them in config
            for k, ref in spec["inputs"].items():
                self.run.use_artifact(self._input_artifact(k, ref))

    def _input_artifact(self, role: str, ref: str) -> Any:
        """The upstream step's output (same name and reference as it was logged), or a hub model."""
        import wandb

        step = self.spec.get("input_steps", {}).get(role)
        if step is None:
            art = wandb.Artifact(_artifact_name(ref), type="hub", metadata={"id": ref})
            art.add_reference(_uri(ref), checksum=False)
            return art
        out_dir = Store(self.spec["store"]).path(step, self.spec["input_keys"][role])
        art = wandb.Artifact(_artifact_name(step), type="step-output",
                             metadata={"key": self.spec["input_keys"][role], "path": str(out_dir)})
        art.add_reference(out_dir.resolve().as_uri(), checksum=False)
        return art

    def finish(self, record: dict[str, Any], final: Path) -> None:
        """Log metrics, timing, throughput and the output artifact; close the run."""
        self._detach()
        if self.run is None:
            return
        import wandb

        seconds = float(record["seconds"])
        metrics = dict(record["metrics"])
        logged = {**metrics, "timing/seconds": seconds}
        for key, what in COUNTS.items():
            if key in metrics and seconds > 0:
                done = metrics[key] - metrics.get(DONE_BEFORE.get(key, ""), 0.0)
                logged[f"throughput/{what}_per_s"] = done / seconds
        self.run.log(logged)
        batch = {f"step.{k}": int(v) for k, v in metrics.items() if k.startswith("batch.")}
        if batch:  # how a training step split its global batch where it ran (`hala_exp.training.batch`)
            self.run.config.update(batch, allow_val_change=True)
        art = wandb.Artifact(_artifact_name(self.spec["name"]), type="step-output",
                             metadata={"key": self.spec["key"], "path": str(final)})
        if self.ctx["upload_artifacts"]:
            art.add_dir(str(final))
        else:
            art.add_reference(final.resolve().as_uri(), checksum=False)
        self.run.log_artifact(art)
        self.run.finish()
        self.run = None

    def _detach(self) -> None:
        if self.sink is not None:
            stage_records.detach(self.sink)
            self.sink = None

    def fail(self) -> None:
        self._detach()
        if self.run is not None:
            self.run.finish(exit_code=1)
            self.run = None
