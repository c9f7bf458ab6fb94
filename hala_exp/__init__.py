"""hala-exp: composable, cached, tracked Arabic-centric LLM experiments."""

__version__ = "0.1.0"
