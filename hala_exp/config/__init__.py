"""Config tree location, composition and validation."""

from hala_exp.config.load import CONF_DIR, ConfigError, compose, validate

__all__ = ["CONF_DIR", "ConfigError", "compose", "validate"]
