"""The error every config check raises, and the two helpers that word it the same way everywhere."""

from __future__ import annotations


class ConfigError(ValueError):
    """A config value that cannot work; the message names the key, the value and the fix."""


def fail(key: str, value: object, problem: str, fix: str) -> None:
    raise ConfigError(f"{key} = {value!r}: {problem}. Fix: {fix}")


def check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        fail(key, value, f"must be one of {', '.join(choices)}", f"set {key}={choices[0]}")
