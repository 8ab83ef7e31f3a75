"""Device noise from measured statistics: a table of conductance level -> programmed mean and
spread (optionally drift and read noise), the way NeuroSim V1.5 and IBM's aihwkit inject it.

A table lives in ``accelerators/noise/NAME.yaml`` and a profile names it with
``settings: {noise_table: NAME}``; ``nonideal.noise_scale`` (0 = off, 1 = as published)
scales every spread, so a sweep can switch it on. Levels are conductances as a fraction of
the cell's largest (g/g_max, 0..1); a cell storing digit ``d`` of ``2^c - 1`` sits at level
``d / (2^c - 1)`` and its statistics are interpolated linearly between the table's rows::

    source: "..."
    g_max_uS: 25            # for reference: the table is already normalised by it
    levels:                 # level, programmed mean, programming sigma (fractions of g_max)
      - {level: 0.0, mean: 0.0, sigma: 0.0105}
    drift: {t0_s: 20, nu_mean: [...], nu_sigma: [...]}      # optional, one value per level
    read_noise: {t_read_s: 2.5e-7, q: [...]}                 # optional 1/f coefficient per level

At inference time ``t`` (``nonideal.t_inference``, seconds after programming; 0 = right after)
a cell's conductance is ``g = mean + sigma.z1`` (clamped at 0), drifted by
``(t_total / t0)^-nu`` with ``nu ~ |N(nu_mean, nu_sigma)|`` when ``t > 0``, plus read noise
``|g| . q . sqrt(ln((t_total + t_read) / (2 t_read))) . z2`` with ``t_total = t0 + t``:
aihwkit's ``PCMLikeNoiseModel`` (Nandakumar et al. ICECS 2019) written as a table. Drift
compensation is not modelled. The simple case stays the seeded lognormal per cell
(``nonideal.conductance_sigma``) in :mod:`seqbench.accel.effects`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from torch import Tensor

from seqbench.errors import SeqbenchError


@dataclass(frozen=True)
class NoiseTable:
    """Per-level statistics, all as fractions of g_max (drift exponents are unitless)."""

    name: str
    source: str
    levels: tuple[float, ...]
    mean: tuple[float, ...]
    sigma: tuple[float, ...]
    drift_t0: float = 0.0
    nu_mean: tuple[float, ...] = ()
    nu_sigma: tuple[float, ...] = ()
    t_read: float = 0.0
    read_q: tuple[float, ...] = ()

    def at(self, column: tuple[float, ...], level: Tensor) -> Tensor:
        """``column`` interpolated linearly at ``level`` (clamped to the table's ends)."""
        xs = torch.tensor(self.levels, dtype=torch.float64)
        ys = torch.tensor(column, dtype=torch.float64)
        x = level.double().clamp(float(xs[0]), float(xs[-1]))
        i = torch.searchsorted(xs, x, right=True).clamp(1, len(xs) - 1)
        x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
        return (y0 + (y1 - y0) * (x - x0) / (x1 - x0)).to(level.dtype)

    def sample(
        self,
        level: Tensor,
        generator: torch.Generator,
        scale: float = 1.0,
        t_inference: float = 0.0,
    ) -> Tensor:
        """Conductances (fractions of g_max) of cells programmed to ``level`` at time
        ``t_inference`` s after programming; ``scale`` multiplies every spread."""
        g = self.at(self.mean, level)
        g = g + scale * self.at(self.sigma, level) * _normal(level, generator)
        g = g.clamp(min=0.0)
        t_total = self.drift_t0 + t_inference
        if self.nu_mean and t_inference > 0:
            nu = self.at(self.nu_mean, level) + scale * self.at(self.nu_sigma, level) * _normal(
                level, generator
            )
            g = g * (t_total / self.drift_t0) ** (-nu.abs())
        if self.read_q and t_total > 0:
            spread = math.sqrt(math.log((t_total + self.t_read) / (2 * self.t_read)))
            q = self.at(self.read_q, level)
            g = g + scale * g.abs() * q * spread * _normal(level, generator)
        return g.clamp(min=0.0)


def _normal(like: Tensor, generator: torch.Generator) -> Tensor:
    return torch.randn(like.shape, generator=generator, dtype=like.dtype)


def noise_dir(profile_path: Path | None) -> Path:
    """Where a profile's noise tables live: ``noise/`` beside the profile file."""
    from seqbench import paths

    base = profile_path.parent if profile_path is not None else paths.accelerators_dir()
    return base / "noise"


def load_noise_table(name: str, profile_path: Path | None = None) -> NoiseTable:
    """The table ``noise/NAME.yaml`` beside the profile (checked: one clear error per fault)."""
    path = noise_dir(profile_path) / f"{name}.yaml"
    where = f"noise table {path}"
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.yaml")) if path.parent.is_dir() else []
        raise SeqbenchError(
            f"{where} does not exist", f"name one of {known} in settings.noise_table"
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise SeqbenchError(f"cannot read {where}: {err}", "fix the YAML") from err
    if not isinstance(raw, dict) or not raw.get("source") or not raw.get("levels"):
        raise SeqbenchError(f"{where} needs `source` and `levels`", "see pcm-nandakumar2019.yaml")
    rows = raw["levels"]
    try:
        levels = tuple(float(r["level"]) for r in rows)
        mean = tuple(float(r["mean"]) for r in rows)
        sigma = tuple(float(r["sigma"]) for r in rows)
    except (TypeError, KeyError, ValueError) as err:
        raise SeqbenchError(
            f"{where}: every level needs numeric `level`, `mean` and `sigma` ({err})",
            "write - {level: 0.0, mean: 0.0, sigma: 0.01}",
        ) from None
    if len(levels) < 2 or list(levels) != sorted(set(levels)) or min(sigma) < 0:
        raise SeqbenchError(
            f"{where}: levels must be at least two, strictly increasing, with sigma >= 0", ""
        )
    drift = raw.get("drift") or {}
    read = raw.get("read_noise") or {}
    table = NoiseTable(
        name=name,
        source=str(raw["source"]),
        levels=levels,
        mean=mean,
        sigma=sigma,
        drift_t0=float(drift.get("t0_s", 0.0)),
        nu_mean=tuple(float(v) for v in drift.get("nu_mean", ())),
        nu_sigma=tuple(float(v) for v in drift.get("nu_sigma", ())),
        t_read=float(read.get("t_read_s", 0.0)),
        read_q=tuple(float(v) for v in read.get("q", ())),
    )
    for label, column in (
        ("drift.nu_mean", table.nu_mean),
        ("drift.nu_sigma", table.nu_sigma),
        ("read_noise.q", table.read_q),
    ):
        if column and len(column) != len(levels):
            raise SeqbenchError(f"{where}: {label} needs one value per level", "")
    if table.read_q and (table.t_read <= 0 or table.drift_t0 <= 0):
        raise SeqbenchError(f"{where}: read noise needs t_read_s > 0 and drift.t0_s > 0", "")
    return table
