"""``seqbench accels validate``: each paper's headline comparison, recomputed like with like.

Every "ours" number comes out of :func:`seqbench.accel.cost.simulate` (or the modelled chip's
peak) applied to the profiles in ``accelerators/`` and an analytic trace of the paper's
workload (:mod:`seqbench.accel.workloads`); nothing is typed in to match. At most one assumed
parameter per paper is calibrated, on one named headline, and the paper's other headlines are
predicted with it; every miss comes with a sensitivity run. The states and their rules are
:mod:`seqbench.accel.protocol`'s.

``accelerators/VALIDATION.md`` is :func:`render_markdown` of these checks (a test keeps the
committed file equal to what this module computes).
"""

from __future__ import annotations

from pathlib import Path

from seqbench.accel import macros, validate_isaac
from seqbench.accel.profile import profile_registry
from seqbench.accel.protocol import (  # noqa: F401 (the protocol's names, re-exported)
    CALIBRATED,
    NOT_REPRODUCIBLE,
    PREDICTED,
    REPRODUCED,
    TOLERANCE,
    Check,
    Fit,
    render_markdown,
    solve,
    status_lines,
)
from seqbench.accel.validate_ice import ice_checks
from seqbench.accel.validate_multcim import (  # noqa: F401 (re-exported)
    MEASURED_SPARSITY,
    measured_sparsity,
    multcim_checks,
)
from seqbench.accel.validate_pipelayer import (  # noqa: F401 (re-exported)
    chip_peak_efficiency,
    pipelayer_checks,
    pipelayer_reference_rows,
)
from seqbench.accel.validate_retransformer import (  # noqa: F401 (re-exported)
    TRANSFORMER_BASE,
    decomposition_speedup,
    matmul_latency,
    naive_path,
    retransformer_checks,
)

_retransformer = retransformer_checks  # the tests patch a profile into one paper's rows


def run_validation(folder: Path | None = None) -> list[Check]:
    """Every headline check, in paper order."""
    reg = profile_registry(folder)
    papers = [
        *retransformer_checks(reg),
        *multcim_checks(reg),
        *pipelayer_checks(reg),
        *ice_checks(reg),
    ]
    rows = [
        *validate_isaac.isaac_rows(reg),
        *pipelayer_reference_rows(reg),
        *macros.macro_rows(reg),
    ]
    return [*papers, *(Check(**row, reference=True) for row in rows)]
