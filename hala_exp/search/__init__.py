"""Multi-objective search over config values (merge t per layer, method parameters) through Hydra.

`hala-exp -m +search=merge_t ...` swaps Hydra's basic sweeper for the `hala_search` sweeper
(`hydra_plugins/hala_exp_search`): optuna proposes each trial's values, Hydra's launcher runs the
trial as an ordinary pipeline run (locally, or as a Slurm job with `hydra/launcher=slurm_h100`), and
the objectives are read back from the trial's results.json. The study is a journal file in the sweep
directory, so the same command resumes it.
"""
