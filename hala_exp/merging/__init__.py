"""Merge methods as config: mergekit's own registry decides what `merge.method` and its parameters may be."""
