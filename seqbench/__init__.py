"""seqbench: benchmark sequence and multimodal models for quality, speed and energy."""

__version__ = "0.1.0"
