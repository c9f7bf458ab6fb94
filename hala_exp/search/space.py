"""The search space: each `hydra.sweeper.params` entry in Hydra's sweep grammar, sampled by optuna.

`interval(a, b)` is a float (an int when both ends are ints), `tag(log, interval(a, b))` on a log
scale, `range(a, b, step)` a stepped number (b excluded, as in Hydra), `choice(x, y, ...)` one of
the values. A param key is any config key Hydra can override, list items included
(`merge.t.0.value`: the value of the first per-layer entry).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hala_exp.config.errors import ConfigError

GRAMMAR = "interval(0, 1), tag(log, interval(1e-5, 1e-3)), range(0, 1.05, 0.25) or choice(a, b)"


@dataclass(frozen=True)
class Param:
    key: str
    kind: str  # float | int | choice
    low: float = 0.0
    high: float = 0.0
    step: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        if self.kind == "choice":
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.key, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.key, self.low, self.high, step=self.step, log=self.log)

    def override(self, value: Any) -> str:
        return f"{self.key}={value!r}" if isinstance(value, float) else f"{self.key}={value}"


def _param(key: str, text: str, parser: Any) -> Param:
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep

    where = f"hydra.sweeper.params.{key}"
    try:
        (override,) = parser.parse_overrides([f"{key}={text}"])
    except Exception as e:  # Hydra's grammar error, with its own message
        raise ConfigError(f"{where} = {text!r}: not Hydra sweep syntax ({e}). Fix: {GRAMMAR}") from e
    v = override.value()
    log = "log" in getattr(v, "tags", set())
    if isinstance(v, IntervalSweep):
        if not v.start < v.end:
            raise ConfigError(f"{where} = {text!r}: the interval is empty. Fix: interval(low, high) with low < high")
        ints = isinstance(v.start, int) and isinstance(v.end, int)
        return Param(key, "int" if ints else "float", v.start, v.end, log=log)
    if isinstance(v, RangeSweep):
        values = list(override.sweep_iterator())
        if len(values) < 2:
            raise ConfigError(f"{where} = {text!r}: fewer than two values. Fix: range(start, stop, step) "
                              "with stop excluded, e.g. range(0, 1.05, 0.25)")
        ints = all(isinstance(x, int) for x in values)
        return Param(key, "int" if ints else "float", values[0], values[-1], step=v.step, log=log)
    if isinstance(v, ChoiceSweep):
        return Param(key, "choice", choices=tuple(override.sweep_iterator()))
    raise ConfigError(f"{where} = {text!r}: one value, nothing to search. Fix: {GRAMMAR}, or give the "
                      f"value on the command line as {key}={text}")


def parse_space(params: dict[str, Any]) -> list[Param]:
    """The params in order, each checked; the error names the key, the value and the grammar."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if not params:
        raise ConfigError("hydra.sweeper.params = {}: nothing to search. Fix: e.g. "
                          "hydra.sweeper.params='{merge.t: \"interval(0, 1)\"}', or +search=merge_t")
    parser = OverridesParser.create()
    return [_param(str(k), str(v), parser) for k, v in params.items()]
