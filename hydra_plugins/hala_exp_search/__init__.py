"""hala-exp's Hydra sweeper plugin (`hydra/sweeper=hala_search`), found by Hydra's plugin scan of
the `hydra_plugins` namespace like Hydra's own plugins."""
