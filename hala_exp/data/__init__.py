"""Data sources: bundled samples, local files and hub datasets, read into plain rows."""
