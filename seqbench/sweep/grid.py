"""The design grid: ``--set PATH=V1,V2`` axes over a base profile, checked before any cell runs.

Names are the parameter paths ``seqbench accels show NAME`` prints (``adc.bits``); values are in
the unit the profile's YAML uses. Every value is checked by the profile's own loader
(:meth:`Profile.derive`), so a sweep accepts exactly what a YAML file would.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from seqbench.accel.profile import Profile
from seqbench.errors import SeqbenchError

# The chip's array budget; while none of these is swept, a swept crossbar size keeps the chip's
# cell count (tiles x arrays_per_tile x rows x cols) of the base profile: bigger arrays, fewer.
CHIP_PATHS = ("chip.tiles", "chip.arrays_per_tile")
# A grid with more design points than this runs only with --yes (each point is at least one
# cell: a typo such as 1,2,...,100 on five axes would start 10^10 of them without a word).
CONFIRM_POINTS = 1000
ARRAY_PATHS = ("crossbar.rows", "crossbar.cols")


@dataclass(frozen=True)
class Axis:
    """One swept parameter and its values (in the profile's unit)."""

    path: str
    values: tuple[float, ...]


def _number(text: str, path: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SeqbenchError(
            f"--set {path}: {text!r} is not a number", f"e.g. --set {path}=4,6,8"
        ) from None
    if not math.isfinite(value):
        raise SeqbenchError(f"--set {path}: {text} is not finite", "give finite numbers")
    return int(value) if value.is_integer() else value


def parse_sets(items: list[str] | tuple[str, ...], profile: Profile) -> list[Axis]:
    """``["adc.bits=4,6,8", ...]`` -> axes, each value checked against ``profile``."""
    axes: list[Axis] = []
    for item in items:
        path, sep, rest = item.partition("=")
        path = path.strip()
        if not sep or not path or not rest.strip():
            raise SeqbenchError(
                f"--set {item!r} is not PARAMETER=V1,V2,...", "e.g. --set adc.bits=4,6,8"
            )
        if any(a.path == path for a in axes):
            raise SeqbenchError(f"--set {path} is given twice", "list all its values in one --set")
        parts = [p.strip() for p in rest.split(",")]
        if any(not p for p in parts):
            raise SeqbenchError(f"--set {item!r} has an empty value", "e.g. --set adc.bits=4,6,8")
        values = tuple(dict.fromkeys(_number(p, path) for p in parts))
        axis = Axis(path, values)
        for value in values:
            derive(profile, {path: value})  # unknown name or out of range: fails here
        axes.append(axis)
    if not axes:
        raise SeqbenchError("a sweep needs at least one --set", "e.g. --set adc.bits=4,6,8")
    return axes


def count_points(items: list[str] | tuple[str, ...]) -> int:
    """How many design points ``--set`` items make (distinct values multiplied), before any
    profile is loaded; malformed items are left to :func:`parse_sets` to word."""
    total = 1
    for item in items:
        _, _, rest = item.partition("=")
        total *= max(1, len({p.strip() for p in rest.split(",") if p.strip()}))
    return total


def check_size(items: list[str] | tuple[str, ...], confirmed: bool) -> None:
    """Refuse a grid over :data:`CONFIRM_POINTS` points unless ``confirmed`` (``--yes``)."""
    size = count_points(items)
    if size > CONFIRM_POINTS and not confirmed:
        raise SeqbenchError(
            f"the --set grid has {size:,} design points (over {CONFIRM_POINTS:,}), each at "
            "least one cell to run",
            "pass --yes to run it anyway, or sweep fewer values",
        )


def points(axes: list[Axis]) -> list[dict[str, float]]:
    """Every combination of the axes' values, first axis slowest."""
    return [
        dict(zip([a.path for a in axes], combo, strict=True))
        for combo in itertools.product(*(a.values for a in axes))
    ]


def derive(profile: Profile, overrides: dict[str, float]) -> Profile:
    """``profile`` with ``overrides``; a resized crossbar keeps the chip's cell count unless
    the chip's array budget is set too (one that cannot hold one array is refused)."""
    overrides = dict(overrides)
    checked = profile.derive(overrides)  # the values as given, checked before any arithmetic
    resized = any(p in overrides for p in ARRAY_PATHS)
    if resized and not any(p in overrides for p in CHIP_PATHS) and profile.has(CHIP_PATHS[1]):
        arrays = _param(profile, "chip.tiles") * _param(profile, "chip.arrays_per_tile")
        base = _param(profile, "crossbar.rows") * _param(profile, "crossbar.cols")
        new = overrides.get("crossbar.rows", _param(profile, "crossbar.rows")) * overrides.get(
            "crossbar.cols", _param(profile, "crossbar.cols")
        )
        tile_cells = arrays * base / _param(profile, "chip.tiles")
        per_tile = math.floor(tile_cells / new)
        if per_tile < 1:
            raise SeqbenchError(
                f"--set crossbar.rows/cols: a crossbar of {new:g} cells is larger than a tile "
                f"of the {profile.name} chip",
                f"allowed: crossbar.rows x crossbar.cols <= {tile_cells:g} (cells per tile)",
            )
        overrides["chip.arrays_per_tile"] = per_tile
        return profile.derive(overrides)
    return checked


def _param(profile: Profile, path: str) -> float:
    return float(profile.params[path].raw)


def base_values(profile: Profile, axes: list[Axis]) -> dict[str, float]:
    """Each axis's value nearest the base profile's (the 'others at base' of effect plots)."""
    out = {}
    for axis in axes:
        base = _param(profile, axis.path)
        out[axis.path] = min(axis.values, key=lambda v: (abs(v - base), v))
    return out
