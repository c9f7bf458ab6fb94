"""One text-generation interface with interchangeable back-ends."""

from hala_exp.engines.base import Engine, SamplingParams, make_engine

__all__ = ["Engine", "SamplingParams", "make_engine"]
