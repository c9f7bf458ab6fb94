"""Pipeline stages: each a function of (its config slice, its input artifacts) -> (output dir, metrics).

A stage never reads global state, never decides what ran before it, and never talks to W&B or
Slurm: the pipeline does that. Heavy libraries are imported inside the functions.
"""
