"""Data: sources and their adapters (one chat schema), the streaming mix builder, quality gates."""
