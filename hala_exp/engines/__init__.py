"""One text-generation interface with interchangeable back-ends."""

from hala_exp.engines.backends import make_engine
from hala_exp.engines.base import Engine, SamplingParams

__all__ = ["Engine", "SamplingParams", "make_engine"]
