"""Shared test settings: one torch thread (deterministic and fastest for tiny models)."""

import os

os.environ.setdefault("SEQBENCH_QUIET", "1")

import torch  # noqa: E402

torch.set_num_threads(1)
