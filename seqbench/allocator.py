"""Keep freed heap memory in the process, so each training step reuses the last one's pages.

glibc hands a freed block back to the kernel when it was mapped on its own (above the mmap
threshold, 128 KiB to 32 MiB as the program goes) or when it leaves more than the trim
threshold free at the top of the heap. A training step frees and reallocates the same large
activations every step, and each block handed back returns as fresh pages that the kernel
faults in and zeroes on first touch. Measured with bitwise-identical losses either way
(``bench/README.md``, "The C allocator"): the Sort-of-CLEVR relation network took 11,000
minor page faults per bf16 step, and its step ran 1.63x faster without them (fp32 1.03-1.16x);
bind-audio's bf16 step (blocks above 32 MiB) 1.17x.

:func:`keep_freed_memory` makes every block come from the heap (no block mapped on its own)
and keeps up to 2 GiB free at the heap's top. The process then holds its peak heap until it
exits, which a training or evaluation process reaches every step anyway (peak resident memory
measured 0-16% higher). Elsewhere (macOS, musl, Windows) it does nothing.
"""

from __future__ import annotations

import ctypes
import os
import sys

# mallopt parameters, from glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_MAX = -4

# (parameter, value): no block mapped on its own (glibc still maps one when the heap cannot
# grow); up to 2 GiB free at the top stays; the heap grows 64 MiB at a time, not per block.
SETTINGS: tuple[tuple[int, int], ...] = (
    (M_MMAP_MAX, 0),
    (M_TRIM_THRESHOLD, 2**31 - 1),
    (M_TOP_PAD, 64 * 1024 * 1024),
)

# Set to "system" to leave the C allocator as the platform configures it.
OPT_OUT_ENV = "SEQBENCH_MALLOC"

_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Keep freed blocks in this process's heap (glibc's ``mallopt``, once); whether it applied.

    False off Linux, on a C library without ``mallopt`` (or one that refuses the settings,
    as musl's stub does), or with ``SEQBENCH_MALLOC=system``.
    """
    global _applied
    if _applied is None:
        _applied = _apply()
    return _applied


def _apply() -> bool:
    if os.environ.get(OPT_OUT_ENV) == "system" or not sys.platform.startswith("linux"):
        return False
    try:  # the process's own symbols, libc's among them (find_library would run ldconfig)
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return all(mallopt(parameter, value) == 1 for parameter, value in SETTINGS)
