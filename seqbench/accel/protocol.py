"""The validation protocol: what state a paper headline is in, and how that state is earned.

Each headline :class:`Check` ends in one state:

* ``reproduced``: within 25% of the paper, every parameter it rests on sourced;
* ``calibrated``: the one assumed parameter of its paper was fitted on this headline (the
  fitted value is printed with the sourced bounds that make it plausible or not); it does not
  count as a reproduction;
* ``predicted``: held out, computed with the parameter calibrated on another headline of the
  same paper, and within 25%;
* ``not reproducible from public data``: the missing fact is named, and a sensitivity run
  (:func:`solve`) prints which value of one parameter would close the gap and whether that
  value is plausible;
* a seed-deck row that restates another headline is printed as that row's transcription.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

TOLERANCE = 0.25
REPRODUCED = "reproduced"
CALIBRATED = "calibrated"
PREDICTED = "predicted"
NOT_REPRODUCIBLE = "not reproducible from public data"


def solve(
    fn: Callable[[float], float], target: float, start: float, span: float = 1e4
) -> float | None:
    """The value v in [start / span, start x span] with fn(v) = target (fn monotone), by
    bisection on log v to 0.1%; None when the target is outside what that span reaches."""
    lo, hi = start / span, start * span
    f_lo, f_hi = fn(lo) - target, fn(hi) - target
    if f_lo == 0:
        return lo
    if f_lo * f_hi > 0:
        return None
    for _ in range(60):
        mid = math.sqrt(lo * hi)
        f_mid = fn(mid) - target
        if f_mid == 0 or hi / lo < 1 + 1e-3:
            return mid
        if f_mid * f_lo > 0:
            lo, f_lo = mid, f_mid
        else:
            hi = mid
    return math.sqrt(lo * hi)


@dataclass
class Fit:
    """One parameter solved to meet a figure: a calibration or a sensitivity run."""

    profile: str
    path: str
    unit: str
    current: float  # the profile's own value (in ``unit``)
    value: float | None  # the value that meets ``target`` (None: none in the searched span)
    target: str  # what it meets, e.g. "1.32x"
    low: float | None  # plausible bounds (in ``unit``), with where they come from
    high: float | None
    bounds: str
    upper: float | None = None  # for a range target: the values in [value, upper] all meet it

    @property
    def used(self) -> float | None:
        """The value predictions use: for a range target the profile's own value when it lies
        in [value, upper], else the nearer end."""
        if self.value is None or self.upper is None:
            return self.value
        return min(max(self.current, self.value), self.upper)

    @property
    def plausible(self) -> bool | None:
        if self.value is None:
            return False
        if self.low is None and self.high is None:
            return None
        return (self.low is None or self.value >= self.low * 0.999) and (
            self.high is None or self.value <= self.high * 1.001
        )

    def describe(self) -> str:
        """``profile path = value unit (profile: x; plausible a-b: why): verdict``."""
        name = f"{self.profile} {self.path}"
        if self.value is None:
            found = f"no value within 10^4x of {self.current:.4g} {self.unit} meets {self.target}"
        elif self.upper is not None:
            found = f"{self.value:.4g}-{self.upper:.4g} {self.unit} meet {self.target}"
        else:
            found = f"{self.value:.4g} {self.unit} meets {self.target}"
        low = "—" if self.low is None else f"{self.low:g}"
        high = "—" if self.high is None else f"{self.high:g}"
        verdict = {True: "plausible", False: "implausible", None: "no sourced bound"}
        return (
            f"{name}: {found} (profile {self.current:g}; plausible {low} to {high} "
            f"{self.unit}: {self.bounds}): {verdict[self.plausible]}"
        )


@dataclass
class Check:
    """One headline figure: the paper's value, ours, and the state the protocol gives it."""

    paper_name: str
    claim: str
    paper: float | None
    ours: float | None
    unit: str
    source: str
    note: str = ""
    missing: str | None = None  # the fact public data lacks; None: every parameter sourced
    paper_high: float | None = None  # the paper gives a range [paper, paper_high]
    transcription_of: str | None = None  # a seed-deck restatement of another headline
    role: str = ""  # CALIBRATED (fitted here), PREDICTED (uses a fit from another row) or ""
    calibration: Fit | None = None  # the paper's calibrated parameter this row uses or fits
    sensitivity: Fit | None = None  # what value of one parameter would close the gap
    tolerance: float = TOLERANCE  # reference rows (ISAAC's components) set their own
    reference: bool = False  # a reference design or macro, not a paper headline

    @property
    def error(self) -> float | None:
        """Relative to the paper; for a range, 0 inside it, else relative to the nearer end;
        none for a transcription (it is not a target of its own)."""
        if self.transcription_of or self.paper is None or self.ours is None or self.paper == 0:
            return None
        if self.paper_high is not None:
            if self.paper <= self.ours <= self.paper_high:
                return 0.0
            end = self.paper if self.ours < self.paper else self.paper_high
            return (self.ours - end) / end
        return (self.ours - self.paper) / self.paper

    @property
    def target(self) -> float | None:
        """The paper's value a fit aims at (a range's nearer end)."""
        if self.paper is None or self.paper_high is None or self.ours is None:
            return self.paper
        return self.paper if self.ours < self.paper else self.paper_high

    @property
    def within(self) -> bool | None:
        return None if self.error is None else abs(self.error) <= self.tolerance

    @property
    def state(self) -> str:
        """The short state: reproduced, calibrated, predicted, not reproducible, transcription."""
        if self.transcription_of:
            return "transcription"
        if self.role == CALIBRATED:
            return CALIBRATED
        if self.within and self.role == PREDICTED:
            return PREDICTED
        if self.within and not self.missing:
            return REPRODUCED
        return NOT_REPRODUCIBLE

    @property
    def counts(self) -> bool:
        """Within 25% as reproduced or predicted (calibrated rows do not count)."""
        return self.state in (REPRODUCED, PREDICTED)

    @property
    def status(self) -> str:
        """The state with what earns it: the fit, the calibration used, or the missing fact
        and the sensitivity run."""
        state = self.state
        if state == "transcription":
            return f"the seed deck's transcription of {self.transcription_of}, not a target"
        if state == CALIBRATED and self.calibration:
            return f"{CALIBRATED}: {self.calibration.describe()}"
        if state == PREDICTED and self.calibration:
            also = f"; also rests on assumed: {self.missing}" if self.missing else ""
            return (
                f"{PREDICTED} with {self.calibration.profile} {self.calibration.path} "
                f"= {self.calibration.used:.4g} {self.calibration.unit} "
                f"(calibrated on another headline){also}"
            )
        if state == REPRODUCED:
            return REPRODUCED
        missing = self.missing or "the paper's value (no figure to compare)"
        if self.within:
            missing += " (within 25% here, but only through the assumed values)"
        if self.role == PREDICTED and self.calibration:
            missing += (
                f"; computed with {self.calibration.path} = {self.calibration.used:.4g} "
                f"{self.calibration.unit} calibrated on another headline"
            )
        run = f"; sensitivity: {self.sensitivity.describe()}" if self.sensitivity else ""
        return f"{NOT_REPRODUCIBLE}: {missing}{run}"

    def to_dict(self) -> dict[str, Any]:
        def fit(f: Fit | None) -> dict[str, Any] | None:
            return None if f is None else {**f.__dict__, "plausible": f.plausible}

        return {
            "paper_name": self.paper_name,
            "claim": self.claim,
            "paper": self.paper,
            "paper_high": self.paper_high,
            "ours": self.ours,
            "unit": self.unit,
            "error": self.error,
            "within_25pct": self.within,
            "state": self.state,
            "status": self.status,
            "calibration": fit(self.calibration),
            "sensitivity": fit(self.sensitivity),
            "source": self.source,
            "note": self.note,
        }


def geo_mean(values: dict[str, float]) -> float:
    return math.exp(sum(math.log(v) for v in values.values()) / len(values))


def fit_parameter(
    profile: Any,
    path: str,
    figure: Callable[[Any], float],
    target: float,
    label: str,
    bounds: tuple[float | None, float | None, str],
) -> Fit:
    """The value of ``profile``'s ``path`` at which ``figure`` meets ``target``."""
    param = profile.params[path]
    value = solve(lambda v: figure(profile.with_value(path, v)), target, float(param.raw))
    return Fit(profile.name, path, param.unit, param.raw, value, label, *bounds)


def using(profile: Any, fit: Fit) -> Any:
    """``profile`` with the calibrated value (its own value when no value met the target)."""
    return profile if fit.used is None else profile.with_value(fit.path, fit.used)


def sensitivities(
    checks: list[Check], runs: dict[str, tuple[Any, str, Callable[[Any], float], tuple]]
) -> None:
    """For each row that misses: the value of its named parameter that would close the gap."""
    for c in checks:
        if c.claim in runs and not c.counts and c.target is not None:
            profile, path, figure, bounds = runs[c.claim]
            c.sensitivity = fit_parameter(
                profile, path, figure, c.target, f"{c.target:g}{c.unit}", bounds
            )


def _paper(c: Check) -> str:
    if c.paper is None:
        return "n/a"
    if c.paper_high is not None:
        return f"{c.paper:g}-{c.paper_high:g} {c.unit}"
    return f"{c.paper:g} {c.unit}"


def status_lines(checks: list[Check]) -> list[str]:
    """``[i] paper, headline: status`` per check, as validate prints them."""
    return [f"[{i}] {c.paper_name}, {c.claim}: {c.status}" for i, c in enumerate(checks, 1)]


def render_markdown(checks: list[Check]) -> str:
    """``accelerators/VALIDATION.md``: the table, each headline's state, fits and notes."""
    # ISAAC and the macros are reference rows, not paper headlines: not counted
    targets = [c for c in checks if c.transcription_of is None and not c.reference]
    counted = sum(c.counts for c in targets)
    calibrated = sum(c.state == CALIBRATED for c in targets)
    lines = [
        "# Validation of the accelerator profiles against their papers",
        "",
        "Generated by `seqbench accels validate --markdown accelerators/VALIDATION.md` from",
        "`seqbench/accel/validate.py` (a test keeps this file equal to what it computes).",
        f"{counted} of {len(targets)} headlines within 25% as reproduced or predicted; "
        f"{calibrated} calibrated (one assumed parameter per paper, fitted on that row, not "
        "counted); every other one names the fact public data lacks and the value of one "
        "parameter that would close the gap.",
        "",
        "| # | paper | headline | paper | ours | error | state |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, c in enumerate(checks, 1):
        error = "—" if c.error is None else f"{c.error:+.0%}"
        ours = "—" if c.ours is None else f"{c.ours:.3g} {c.unit}"
        lines.append(
            f"| {i} | {c.paper_name} | {c.claim} | {_paper(c)} | {ours} | {error} | {c.state} |"
        )
    lines += ["", "## Calibrated parameters (one per paper) and the predictions made with them", ""]
    for i, c in enumerate(checks, 1):
        if c.role == CALIBRATED and c.calibration:
            held = [
                f"[{j}] {d.error:+.0%}" if d.error is not None else f"[{j}]"
                for j, d in enumerate(checks, 1)
                if d.role == PREDICTED and d.calibration is c.calibration
            ]
            lines.append(
                f"- [{i}] {c.calibration.describe()}; prediction errors of the held-out rows: "
                f"{', '.join(held) or 'none held out'}"
            )
    lines += ["", "## State of each headline", ""]
    lines += [f"- {line}" for line in status_lines(checks)]
    lines += ["", "## Notes", ""]
    lines += [f"- [{i}] {c.source}: {c.note}" for i, c in enumerate(checks, 1) if c.note]
    return "\n".join(lines) + "\n"
