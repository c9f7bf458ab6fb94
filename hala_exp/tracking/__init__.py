"""Experiment tracking at the pipeline's edge: stages never import it.

`tracking_context` turns a composed config into a small JSON-able context that travels in each
step's spec; `StepRun` opens one W&B run around one executed step (reused steps open none).
"""

from hala_exp.tracking.context import flatten, tracking_context
from hala_exp.tracking.secrets import scrub
from hala_exp.tracking.step_run import StepRun

__all__ = ["StepRun", "flatten", "scrub", "tracking_context"]
