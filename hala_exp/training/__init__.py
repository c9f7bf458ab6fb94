"""Supervised fine-tuning through TRL."""
