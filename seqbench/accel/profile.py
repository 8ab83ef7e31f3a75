"""Accelerator profiles (``accelerators/*.yaml``): loaded, unit-checked, provenance-checked.

A profile is data in the Accelergy spirit: components with per-action energy and latency,
each number written as ``{value: 1.67, unit: pJ, source: "ISAAC ISCA'16 Table 1"}`` or
``{value: 10, unit: ns, assumed: true, why: "..."}``. ``mapping`` names, per op class, the
mapping kind (a registry in :mod:`seqbench.accel.mappings`) that prices it. Loading rejects
unknown fields and units, negative numbers, parameters with neither a source nor an
``assumed`` flag, and mappings whose required parameters are missing.

    >>> from seqbench.accel.profile import resolve_profiles
    >>> [p.name for p in resolve_profiles("reretransformer")]
    ['retransformer']
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from seqbench import paths
from seqbench.accel import gallery as gallery_storage
from seqbench.accel import provenance, units
from seqbench.accel.effects import EFFECTS
from seqbench.accel.mappings import MAPPINGS
from seqbench.errors import SeqbenchError
from seqbench.ops import OpClass
from seqbench.registry import Registry, did_you_mean
from seqbench.yamlfile import load_yaml

OP_CLASSES = tuple(c.value for c in OpClass)  # one vocabulary: seqbench.ops.OpClass
PIPELINES = ("none", "layer", "submatrix")
TOP_LEVEL = {
    "name",
    "aliases",
    "title",
    "citation",
    "doi",
    "technology",
    "assumed_count",
    "fallback",
    "mapping",
    "pipeline",
    "settings",
    "parameters",
    "notes",
    "effects",
    "gallery",
}
REQUIRED = (
    "name",
    "title",
    "citation",
    "doi",
    "technology",
    "assumed_count",
    "mapping",
    "parameters",
)


@dataclass(frozen=True)
class Param:
    """One numeric parameter: its value in SI units and where it comes from."""

    path: str
    raw: Any
    unit: str
    source: str | None = None
    assumed: bool = False
    why: str | None = None

    @property
    def dimension(self) -> str:
        return units.dimension(self.unit) or "?"

    def si(self) -> float:
        return units.to_si(self.raw, self.unit)

    def provenance(self) -> str:
        return provenance.describe(self.source, self.assumed, self.why)


def _changed_hash(base: str, overrides: dict[str, float]) -> str:
    """The hash of a profile ``base`` with parameters set to ``overrides``."""
    change = json.dumps(sorted(overrides.items()))
    return hashlib.sha256(f"{base}{change}".encode()).hexdigest()[:16]


@dataclass
class Profile:
    """A loaded profile; numbers are read with :meth:`get` in SI units."""

    name: str
    title: str
    citation: str
    doi: str
    technology: str
    mapping: dict[str, str]
    params: dict[str, Param]
    aliases: tuple[str, ...] = ()
    fallback: str | None = None
    pipeline: str = "none"
    settings: dict[str, Any] = field(default_factory=dict)
    effects: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    path: Path | None = None
    hash: str = ""
    declared_assumed: int = 0
    gallery: gallery_storage.GalleryPlacement | None = None  # where its search finds it

    def has(self, path: str) -> bool:
        return path in self.params

    def get(self, path: str, dim: str) -> float:
        """Parameter ``path`` (``component.name``) in SI units; checks its dimension."""
        if path not in self.params:
            raise SeqbenchError(
                f"profile {self.name!r} lacks parameter {path!r}",
                f"add `{path.split('.')[-1]}: {{value: ..., unit: ..., source: ...}}` "
                f"under `{path.split('.')[0]}` in {self.path}",
            )
        param = self.params[path]
        if param.dimension != dim:
            raise SeqbenchError(
                f"profile {self.name!r}: {path} is in {param.unit} ({param.dimension}), "
                f"expected a {dim}",
                f"write it in a {dim} unit",
            )
        return param.si()

    def opt(self, path: str, dim: str, default: float) -> float:
        """Like :meth:`get`, with ``default`` when the profile does not set ``path``."""
        return self.get(path, dim) if path in self.params else default

    def setting(self, key: str, default: Any = None) -> Any:
        return self.settings.get(key, default)

    def assumed_parameters(self) -> list[Param]:
        """The parameters marked ``assumed: true`` (no source found)."""
        return [p for p in self.params.values() if p.assumed]

    def with_mapping(self, op_class: str, kind: str) -> Profile:
        """A copy that prices ``op_class`` with mapping ``kind`` (e.g. a paper's baseline flow)."""
        clone = copy.copy(self)
        clone.mapping = {**self.mapping, op_class: kind}
        _check_requirements(clone, f"profile {self.name} (with {op_class}: {kind})")
        return clone

    def with_value(self, path: str, raw: float) -> Profile:
        """A copy with parameter ``path`` set to ``raw`` (in its own unit): for sensitivity;
        its hash covers the change, as :meth:`derive`'s does."""
        clone = copy.copy(self)
        clone.params = {**self.params, path: replace(self.params[path], raw=raw)}
        clone.hash = _changed_hash(self.hash, {path: raw})
        return clone

    def derive(self, overrides: dict[str, float]) -> Profile:
        """A copy with parameters set to new values (each in the unit the YAML uses), checked
        as loading checks the YAML (unknown names with did-you-mean, ranges, what the mappings
        need); its hash covers the overrides, so records of derived profiles differ."""
        where = f"profile {self.name} (--set)"
        params = dict(self.params)
        for path, raw in overrides.items():
            if path not in params:
                raise SeqbenchError(
                    f"{where}: unknown parameter {path!r};{did_you_mean(path, list(params))}",
                    f"its parameters are listed by `seqbench accels show {self.name}`",
                )
            spec = {"value": raw, "unit": params[path].unit, "source": "--set override"}
            params[path] = _parse_param(path, spec, where)
        clone = copy.copy(self)
        clone.params = params
        _check_requirements(clone, where)
        clone.hash = _changed_hash(self.hash, overrides)
        return clone

    def summary(self) -> dict[str, Any]:
        """Name, hash and citation, for result records."""
        return {"name": self.name, "hash": self.hash, "citation": self.citation, "doi": self.doi}


# --- loading ------------------------------------------------------------------------------


def load_profile(path: Path) -> Profile:
    """Read and validate one profile file."""
    data = path.read_bytes()
    try:
        raw = load_yaml(data, path)
    except yaml.YAMLError as err:
        raise SeqbenchError(f"cannot parse profile {path}: {err}", "fix the YAML syntax") from err
    where = f"profile {path}"
    if not isinstance(raw, dict):
        raise SeqbenchError(f"{where} is not a mapping", "see accelerators/retransformer.yaml")
    missing = [k for k in REQUIRED if k not in raw]
    if missing:
        raise SeqbenchError(
            f"{where} lacks field(s) {missing}", "see accelerators/retransformer.yaml"
        )
    unknown = sorted(set(raw) - TOP_LEVEL)
    if unknown:
        raise SeqbenchError(
            f"{where} has unknown field(s) {unknown}", f"known: {sorted(TOP_LEVEL)}"
        )
    paths.check_name(raw["name"], "name", where)  # it becomes a results folder
    params = _parse_params(raw["parameters"], where)
    pipeline = raw.get("pipeline") or {}
    profile = Profile(
        name=str(raw["name"]),
        title=str(raw["title"]),
        citation=str(raw["citation"]),
        doi=str(raw["doi"]),
        technology=str(raw["technology"]),
        mapping=_parse_mapping(raw["mapping"], where),
        params=params,
        aliases=tuple(raw.get("aliases") or ()),
        fallback=raw.get("fallback"),
        pipeline=str(pipeline.get("granularity", "none")),
        settings=dict(raw.get("settings") or {}),
        effects=[str(e) for e in raw.get("effects") or []],
        notes=list(raw.get("notes") or []),
        path=path,
        hash=hashlib.sha256(data).hexdigest()[:16],
        declared_assumed=int(raw["assumed_count"]),
        gallery=gallery_storage.parse(raw.get("gallery"), where),
    )
    if profile.pipeline not in PIPELINES:
        raise SeqbenchError(
            f"{where}: unknown pipeline granularity {profile.pipeline!r}", f"one of {PIPELINES}"
        )
    for effect in profile.effects:
        if effect not in EFFECTS:
            raise SeqbenchError(
                f"{where}: unknown effect {effect!r};{did_you_mean(effect, EFFECTS.names())}",
                f"effects: {', '.join(EFFECTS.names())}",
            )
    _check_requirements(profile, where)
    counted = len(profile.assumed_parameters())
    if counted != profile.declared_assumed:
        raise SeqbenchError(
            f"{where} declares assumed_count {profile.declared_assumed} but marks {counted} "
            "parameters `assumed: true`",
            f"set assumed_count: {counted}",
        )
    if profile.name != path.stem:  # `--accel NAME` and the results folder find it by file name
        raise SeqbenchError(
            f"{where}: name {profile.name!r} differs from the file name {path.stem!r}",
            f"set `name: {path.stem}` or rename the file to {profile.name}.yaml",
        )
    return profile


# Parameter names retired for a unit-true one: old name -> new name (refused with a hint).
RENAMED = {"energy_per_byte": "energy_per_bit"}  # its unit was always pJ/bit (x 8 per byte)

# Dimensions the cost model divides by (lanes, rows, planes, clocks, bandwidths, rates).
DIVISOR_DIMENSIONS = {"count", "frequency", "bandwidth", "compute_rate"}
# Dimensions whose values are whole numbers (rows, tiles, ADC bits, bits per cell).
WHOLE_DIMENSIONS = {"count", "bits"}


def _parse_params(tree: Any, where: str) -> dict[str, Param]:
    if not isinstance(tree, dict):
        raise SeqbenchError(f"{where}: parameters must be a mapping of components", "see cpu.yaml")
    params: dict[str, Param] = {}
    for component, entries in tree.items():
        if not isinstance(entries, dict):
            raise SeqbenchError(f"{where}: component {component!r} must be a mapping", "")
        for name, spec in entries.items():
            path = f"{component}.{name}"
            if name in RENAMED:
                raise SeqbenchError(
                    f"{where}: parameter {path} is now {component}.{RENAMED[name]} "
                    "(its unit is per bit)",
                    f"rename `{name}:` to `{RENAMED[name]}:` (same value and unit)",
                )
            params[path] = _parse_param(path, spec, where)
    return params


def _parse_param(path: str, spec: Any, where: str) -> Param:
    if not isinstance(spec, dict) or "value" not in spec or "unit" not in spec:
        raise SeqbenchError(
            f"{where}: parameter {path} needs `value` and `unit`",
            'write {value: X, unit: pJ, source: "..."} or {..., assumed: true, why: "..."}',
        )
    extra = sorted(set(spec) - {"value", "unit", "source", "assumed", "why"})
    if extra:
        raise SeqbenchError(f"{where}: parameter {path} has unknown key(s) {extra}", "")
    unit = str(spec["unit"])
    if units.dimension(unit) is None:
        same_letters = [u for u in units.UNITS if u.lower() == unit.lower()]
        hint = (
            f" did you mean {same_letters[0]!r}?"
            if same_letters
            else did_you_mean(unit, list(units.UNITS))
        )
        raise SeqbenchError(
            f"{where}: parameter {path} has unknown unit {unit!r};{hint}",
            f"known units: {units.known_units()}",
        )
    value = spec["value"]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SeqbenchError(f"{where}: parameter {path} value {value!r} is not a number", "")
    elif not math.isfinite(value):
        raise SeqbenchError(
            f"{where}: parameter {path} is {value} {unit}", "write a finite number (no .nan/.inf)"
        )
    elif value <= 0 and units.dimension(unit) in DIVISOR_DIMENSIONS:
        raise SeqbenchError(
            f"{where}: parameter {path} is {value} {unit}; the cost model divides by it",
            f"a {units.dimension(unit)} must be > 0",
        )
    elif value < 1 and units.dimension(unit) == "bits":
        raise SeqbenchError(
            f"{where}: parameter {path} is {value} {unit}", "a bit width must be >= 1"
        )
    elif value < 0:
        raise SeqbenchError(
            f"{where}: parameter {path} is negative ({value} {unit})",
            "energies, latencies, sizes and rates are non-negative",
        )
    if units.dimension(unit) in WHOLE_DIMENSIONS and not float(value).is_integer():
        raise SeqbenchError(
            f"{where}: parameter {path} is {value} {unit}, not a whole number",
            f"a {units.dimension(unit)} value is whole: e.g. {math.floor(value)} or "
            f"{math.ceil(value)}",
        )
    source, assumed, why = provenance.checked(
        spec,
        where,
        f"parameter {path}",
        "cite the table/section it comes from, or mark it assumed with a reason",
        "say why this value",
    )
    return Param(path=path, raw=value, unit=unit, source=source, assumed=assumed, why=why)


def _parse_mapping(raw: Any, where: str) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise SeqbenchError(f"{where}: mapping must be `op_class: mapping_kind`", "see cpu.yaml")
    for op_class, kind in raw.items():
        if op_class not in OP_CLASSES:
            raise SeqbenchError(
                f"{where}: unknown op class {op_class!r};"
                f"{did_you_mean(op_class, list(OP_CLASSES))}",
                f"op classes: {', '.join(OP_CLASSES)}",
            )
        MAPPINGS.canonical(str(kind))  # raises with the known kinds
    return {str(k): str(v) for k, v in raw.items()}


def _check_requirements(profile: Profile, where: str) -> None:
    gallery_storage.check(profile.mapping, profile.gallery, where)
    for kind in sorted(set(profile.mapping.values())):
        for path, dim in MAPPINGS.get(kind).requires(profile).items():
            if path not in profile.params:
                raise SeqbenchError(
                    f"{where}: mapping {kind!r} needs parameter {path!r}, which is missing",
                    f"add {path.split('.')[-1]}: {{value: ..., unit: ..., source: ...}} "
                    f"under {path.split('.')[0]}",
                )
            param = profile.params[path]
            if param.dimension != dim:
                raise SeqbenchError(
                    f"{where}: {path} is in {param.unit} ({param.dimension}); "
                    f"{kind!r} needs a {dim}",
                    f"write it in a {dim} unit",
                )


# --- discovery ----------------------------------------------------------------------------

_CACHE: dict[tuple[Path, float], Profile] = {}


def _load_cached(path: Path) -> Profile:
    key = (path, path.stat().st_mtime)
    if key not in _CACHE:
        _CACHE[key] = load_profile(path)
    return _CACHE[key]


# Profiles that failed to load, by file stem -> the error (reported once, then skipped).
BROKEN: dict[str, SeqbenchError] = {}
_REPORTED: set[str] = set()


def _skip(path: Path, error: SeqbenchError, quiet: bool = False) -> None:
    BROKEN[path.stem] = error
    if not quiet:
        _warn(error)


def _warn(error: SeqbenchError) -> None:
    if str(error) not in _REPORTED:
        _REPORTED.add(str(error))
        from rich.markup import escape

        from seqbench.progress import console

        console.print(f"[yellow]warning:[/] skipped {escape(str(error))}", highlight=False)


def _warn_broken(asked: list[str]) -> None:
    """Report the broken profiles, except one asked for by name (its error is raised)."""
    for stem, error in list(BROKEN.items()):
        if stem not in asked:
            _warn(error)


def list_profiles(folder: Path | None = None, *, quiet: bool = False) -> dict[str, Profile]:
    """Every loadable profile in ``accelerators/`` (or ``folder``), by name.

    A broken file, or a second file claiming a name or alias already taken, is reported once
    (unless ``quiet``) and skipped: it does not disable the other profiles.
    """
    folder = folder or paths.accelerators_dir()
    if not any(folder.glob("*.yaml")):  # an empty registry is an error, never an empty table
        raise SeqbenchError(
            f"no accelerator profile (*.yaml) in {folder}", "add a profile or point elsewhere"
        )
    found: dict[str, Profile] = {}
    taken: dict[str, Path] = {}
    for path in sorted(folder.glob("*.yaml")):
        try:
            profile = _load_cached(path)
        except SeqbenchError as error:
            _skip(path, error, quiet)
            continue
        except (OSError, ValueError) as error:  # unreadable or not UTF-8
            _skip(path, SeqbenchError(f"profile {path}: {error}", "fix or remove the file"), quiet)
            continue
        clash = [n for n in (profile.name, *profile.aliases) if n in taken]
        if clash:
            _skip(
                path,
                SeqbenchError(
                    f"profile {path}: name {clash[0]!r} is already used by {taken[clash[0]]}",
                    "give one of them another name",
                ),
                quiet,
            )
            continue
        BROKEN.pop(path.stem, None)
        taken.update({n: path for n in (profile.name, *profile.aliases)})
        found[profile.name] = profile
    return found


def profile_registry(folder: Path | None = None, *, quiet: bool = False) -> Registry[Profile]:
    registry: Registry[Profile] = Registry("accelerator profile")
    for name, profile in list_profiles(folder, quiet=quiet).items():
        registry.add(name, profile, profile.aliases)
    return registry


def resolve_profiles(spec: str, folder: Path | None = None) -> list[Profile]:
    """``"all"``, one name/alias, or a comma list -> profiles (did-you-mean on unknown names)."""
    registry = profile_registry(folder, quiet=True)
    names = [part.strip() for part in spec.split(",") if part.strip()]
    for name in names:
        if name not in registry and name in BROKEN:
            raise BROKEN[name]  # asked for by name: said once, as the error
    _warn_broken(names)
    if spec.strip() == "all":
        return [registry.get(name) for name in registry.names()]
    if not names:
        raise SeqbenchError("no accelerator profile named", "e.g. --accel retransformer or all")
    return [registry.get(name) for name in dict.fromkeys(registry.canonical(n) for n in names)]


def load_named(name: str, folder: Path | None = None) -> Profile:
    """One profile by name or alias."""
    registry = profile_registry(folder, quiet=True)
    if name not in registry and name in BROKEN:
        raise BROKEN[name]
    _warn_broken([name])
    return registry.get(name)


def draws_table_noise(profile: Profile) -> bool:
    """Whether ``profile``'s effects draw noise from a measured table: it names one
    (``settings.noise_table``) and ``nonideal.noise_scale`` > 0."""
    scale = profile.params.get("nonideal.noise_scale")
    return bool(profile.setting("noise_table")) and scale is not None and float(scale.raw) > 0


def noise_table_digest(profile: Profile) -> str | None:
    """The sha256 of the measured noise table ``profile``'s effects draw from
    (:func:`draws_table_noise`), else None. The table is a file of its own: the profile's hash
    does not cover it."""
    from seqbench.accel.noise import noise_dir

    if not draws_table_noise(profile):
        return None
    table = noise_dir(profile.path) / f"{profile.setting('noise_table')}.yaml"
    return hashlib.sha256(table.read_bytes()).hexdigest()[:16] if table.is_file() else None


def chain_hash(profile: Profile) -> str:
    """What prices and scores a record on ``profile``: its own hash, combined with the noise
    table its effects draw from (when they do) and its ``fallback`` profile's chain hash (when
    it hands host ops to one); the plain hash when neither. So an edit of ``cpu.yaml`` also
    re-prices the profiles that fall back to it, and an edited noise table re-scores."""
    parts = [profile.hash]
    table = noise_table_digest(profile)
    if table:
        parts.append(f"noise:{table}")
    if profile.fallback and profile.fallback != profile.name:
        parts.append(chain_hash(load_named(profile.fallback)))
    if len(parts) == 1:
        return profile.hash
    return hashlib.sha256("+".join(parts).encode()).hexdigest()[:16]


def gallery_label(profile: Profile) -> str | None:
    """Where ``profile``'s search finds its gallery (its own, or its fallback's when it hands
    the search to it), as the faces board prints it."""
    hands_off = profile.mapping.get(gallery_storage.SEARCH, "host") == "host"
    fallback = load_named(profile.fallback) if hands_off and profile.fallback else None
    return gallery_storage.label(profile, fallback)
