"""Running the pipeline on Slurm: one job per step, chained by `afterok`, through submitit.

The stages know nothing of Slurm: this package turns each step's JSON spec into a submitit job with
the resources its stage asks for (`resources/`), on the site of `cluster/`.
"""

JOBS_FILE = "jobs.json"  # a Slurm run's jobs, in its run directory


class LaunchError(Exception):
    """A request the cluster cannot satisfy, found before or at submission. The message says the fix."""
