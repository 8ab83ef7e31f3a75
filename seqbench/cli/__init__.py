"""The command-line interface (Click + Rich)."""
