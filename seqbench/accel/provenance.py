"""Where a profile entry comes from: a ``source``, or ``assumed: true`` with a ``why``.

Every number of a profile (:class:`seqbench.accel.profile.Param`) and its gallery placement
(:mod:`seqbench.accel.gallery`) carries one, checked the same way when the YAML loads.
"""

from __future__ import annotations

from typing import Any

from seqbench.errors import SeqbenchError


def checked(
    spec: dict[str, Any], where: str, what: str, cite: str, explain: str
) -> tuple[str | None, bool, str | None]:
    """``(source, assumed, why)`` of ``spec``; refuses an assumed ``what`` without a reason
    (``explain`` says what to write) and one with neither (``cite`` says where to look)."""
    assumed = bool(spec.get("assumed", False))
    if assumed and not spec.get("why"):
        raise SeqbenchError(f"{where}: assumed {what} lacks `why`", explain)
    if not assumed and not spec.get("source"):
        raise SeqbenchError(f"{where}: {what} has neither a source nor `assumed: true`", cite)
    return spec.get("source"), assumed, spec.get("why")


def describe(source: str | None, assumed: bool, why: str | None) -> str:
    """``ASSUMED: why`` or the source, as ``accels show`` and validate print it."""
    return f"ASSUMED: {why}" if assumed else str(source)
