"""Where a profile's similarity search finds its gallery.

A profile that prices ``similarity_search`` itself says where the gallery lives, with a source
or an ``assumed`` reason, as every number of a profile does::

    gallery: {storage: nand, source: "ICE MICRO'22: the database vectors stay in NAND"}

The mapping that prices the search must scan the gallery from there (``SEARCHES``): a
``roofline`` host reads a gallery resident in DRAM (or a GPU's device memory), ``nand_host_scan``
reads every page out of NAND into DRAM first (ICE's baseline flow), ``nand_search`` scores it
inside the NAND (ICE). A profile that hands the search to its ``fallback`` inherits the
fallback's gallery. The faces board's gallery table and ``accels validate`` print the label.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from seqbench.accel import provenance
from seqbench.errors import SeqbenchError

STORAGES = ("dram", "nand")
SEARCH = "similarity_search"


class Search(NamedTuple):
    """What a mapping kind assumes about the gallery it scans, and how the board labels it."""

    storage: str
    label: str


SEARCHES = {
    "roofline": Search("dram", "DRAM, resident"),
    "nand_host_scan": Search("nand", "NAND, read into DRAM per search"),
    "nand_search": Search("nand", "NAND, searched in place"),
}


@dataclass(frozen=True)
class GalleryPlacement:
    """Where the gallery lives (``storage``), and where that comes from."""

    storage: str
    source: str | None = None
    assumed: bool = False
    why: str | None = None

    def provenance(self) -> str:
        return provenance.describe(self.source, self.assumed, self.why)


def parse(raw: Any, where: str) -> GalleryPlacement | None:
    """The profile's ``gallery`` field (None when absent), checked as parameters are."""
    if raw is None:
        return None
    example = '{storage: dram, source: "..."} or {storage: dram, assumed: true, why: "..."}'
    if not isinstance(raw, dict):
        raise SeqbenchError(f"{where}: gallery must be a mapping", f"write gallery: {example}")
    extra = sorted(set(raw) - {"storage", "source", "assumed", "why"})
    if extra:
        raise SeqbenchError(f"{where}: gallery has unknown key(s) {extra}", f"write {example}")
    storage = raw.get("storage")
    if storage not in STORAGES:
        raise SeqbenchError(
            f"{where}: gallery storage {storage!r} is not one of {', '.join(STORAGES)}",
            f"write gallery: {example}",
        )
    source, assumed, why = provenance.checked(
        raw,
        where,
        "gallery storage",
        "cite where the paper keeps the gallery, or mark it assumed with a reason",
        "say why it lives there",
    )
    return GalleryPlacement(str(storage), source, assumed, why)


def check(mapping: dict[str, str], gallery: GalleryPlacement | None, where: str) -> None:
    """A profile that prices the search itself names its gallery, and the mapping scans it
    from there."""
    kind = mapping.get(SEARCH)
    if kind is None or kind == "host":
        return
    search = SEARCHES.get(kind)
    if search is None:
        raise SeqbenchError(
            f"{where}: {SEARCH}: {kind} does not say where it finds the gallery",
            f"map {SEARCH} to one of {', '.join(SEARCHES)} (seqbench/accel/gallery.py)",
        )
    if gallery is None:
        raise SeqbenchError(
            f"{where}: mapping {SEARCH}: {kind} needs `gallery: {{storage: {search.storage}, "
            "source: ...}}`",
            "say where the gallery lives, with a source or an assumed reason",
        )
    if gallery.storage != search.storage:
        fits = [k for k, s in SEARCHES.items() if s.storage == gallery.storage]
        raise SeqbenchError(
            f"{where}: gallery storage {gallery.storage} but {SEARCH}: {kind} scans a gallery "
            f"in {search.storage}",
            f"map {SEARCH} to {' or '.join(fits)}, or change gallery storage",
        )


def label(profile: Any, fallback: Any = None) -> str | None:
    """Where ``profile``'s search finds its gallery, as the board prints it (None: it cannot
    search); ``(assumed)`` when no source says so, ``on NAME`` when its ``fallback`` profile
    (given by the caller: :func:`seqbench.accel.profile.gallery_label`) searches."""
    hands_off = profile.mapping.get(SEARCH, "host") == "host" and fallback is not None
    runs = fallback if hands_off else profile
    kind = runs.mapping.get(SEARCH)
    if kind not in SEARCHES or runs.gallery is None:
        return None
    text = SEARCHES[kind].label + (" (assumed)" if runs.gallery.assumed else "")
    return f"{text}, on {runs.name}" if hands_off else text
