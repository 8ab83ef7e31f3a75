"""Data: sources (hub, local files), embedded generators, tokenizers and the prepare cache."""
