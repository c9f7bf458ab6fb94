"""Checks of what types cannot say (ranges, paths, dataset columns), one module per schema module.

Each raises `ConfigError` on the first value that cannot work, naming the key, the value and the
fix; `hala_exp.config.load.validate` calls them in order.
"""
