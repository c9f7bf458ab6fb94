"""Model loading and tiny models built in code."""
