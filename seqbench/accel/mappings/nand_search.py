"""Vector similarity search in 3D NAND (ICE) and the conventional flow it replaces.

``nand_search`` (ICE): the gallery stays in NAND; the query is applied on the word lines
and one in-array read compares it with ``nand.words_per_read`` stored words of
``nand.dims_per_word`` dimensions each, so a search takes
ceil(N / words_per_read) x ceil(D / dims_per_word) reads spread over ``nand.planes``.
The in-array similarity has bounded resolution, so ``search.candidate_factor`` x k
candidates leave the chip over the NAND interface and the host re-ranks them exactly.

``nand_host_scan`` (the baseline of the ICE paper): every page of the gallery is read,
moved over the NAND interface into DRAM (written, then read by the CPU) and scored on the
host. Host compute in both is priced by the fallback profile's roofline.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

from seqbench.accel.mappings import Context, Mapping, OpCost, register
from seqbench.accel.mappings.host import Roofline
from seqbench.errors import SeqbenchError

if TYPE_CHECKING:
    from seqbench.accel.profile import Profile
    from seqbench.trace import OpRecord

COMMON = {
    "nand.interface_bandwidth": "bandwidth",
    "nand.interface_energy": "energy_per_bit",
    "precision.vector_bits": "bits",
}


def _host_part(op: OpRecord, ctx: Context, queries: int, vectors: int) -> OpCost:
    """The host's exact scoring of ``vectors`` per query (a similarity_search on the host)."""
    if ctx.host is None:
        raise SeqbenchError(
            "nand search needs a host profile for re-ranking", "set `fallback: cpu`"
        )
    sub = replace(
        op,
        dims={**op.dims, "m": queries, "n": vectors},
        macs=queries * vectors * op.dims["k"],
        elems_weight=vectors * op.dims["k"],
        elems_out=queries * int(op.meta.get("k", 1)),
    )
    return Roofline().cost(sub, ctx.host, ctx)


class NandSearch(Mapping):
    name = "nand_search"

    def requires(self, profile: Profile) -> dict[str, str]:
        return {
            **COMMON,
            "nand.words_per_read": "count",
            "nand.dims_per_word": "count",
            "nand.search_latency": "time",
            "nand.search_energy": "energy",
            "nand.planes": "count",
            "search.candidate_factor": "count",
        }

    def cost(self, op: OpRecord, profile: Profile, ctx: Context) -> OpCost:
        queries, dims, vectors = op.dims["m"], op.dims["k"], op.dims["n"]
        top_k = int(op.meta.get("k", 1))
        reads = math.ceil(vectors / profile.get("nand.words_per_read", "count")) * math.ceil(
            dims / profile.get("nand.dims_per_word", "count")
        )
        planes = profile.get("nand.planes", "count")
        cost = OpCost(effective_macs=op.macs)
        cost.add(
            "search",
            queries * math.ceil(reads / planes) * profile.get("nand.search_latency", "time"),
            queries * reads * profile.get("nand.search_energy", "energy"),
        )
        candidates = min(vectors, top_k * int(profile.get("search.candidate_factor", "count")))
        moved_bits = (
            queries * (candidates + 1) * dims * profile.get("precision.vector_bits", "bits")
        )
        cost.add(
            "data_movement",
            moved_bits / 8 / profile.get("nand.interface_bandwidth", "bandwidth"),
            moved_bits * profile.get("nand.interface_energy", "energy_per_bit"),
        )
        cost.merge(_host_part(op, ctx, queries, candidates))
        cost.count("nand_search_reads", queries * reads)
        cost.count("candidates_moved", queries * candidates)
        return cost


class NandHostScan(Mapping):
    name = "nand_host_scan"

    def requires(self, profile: Profile) -> dict[str, str]:
        return {
            **COMMON,
            "nand.page_bytes": "bytes",
            "nand.read_latency": "time",
            "nand.read_energy": "energy",
            "nand.planes": "count",
            "dram.energy": "energy_per_bit",
        }

    def cost(self, op: OpRecord, profile: Profile, ctx: Context) -> OpCost:
        queries, dims, vectors = op.dims["m"], op.dims["k"], op.dims["n"]
        gallery_bytes = vectors * dims * profile.get("precision.vector_bits", "bits") / 8
        pages = math.ceil(gallery_bytes / profile.get("nand.page_bytes", "bytes"))
        planes = profile.get("nand.planes", "count")
        cost = OpCost()
        # the whole gallery leaves the NAND once per batch of queries (one pass, all queries)
        cost.add(
            "data_movement",
            math.ceil(pages / planes) * profile.get("nand.read_latency", "time")
            + gallery_bytes / profile.get("nand.interface_bandwidth", "bandwidth"),
            pages * profile.get("nand.read_energy", "energy")
            + gallery_bytes
            * 8
            * (
                profile.get("nand.interface_energy", "energy_per_bit")
                + 2 * profile.get("dram.energy", "energy_per_bit")
            ),
        )
        cost.merge(_host_part(op, ctx, queries, vectors))
        cost.count("nand_page_reads", pages)
        return cost


register(NandSearch())
register(NandHostScan())
