"""Vector similarity search in 3D NAND (ICE) and the conventional flow it replaces.

``nand_search`` (ICE, from its published figures): the gallery stays in NAND as INT8
vectors; one vector-vector multiplication (VVM) scores the query against
``nand.bytes_per_vvm`` of stored vectors in ``nand.vvm_latency`` (an average that already
includes the 4-plane parallelism) and ``nand.vvm_energy``. As many VVMs run at once as the
NAND chips' power budget holds (``nand.array_power`` / ``nand.vvm_power``: 884 / 26.9 mW
gives 32), so the search takes ceil(VVMs / concurrency) VVM times. Energy is charged for
what runs: every VVM's own energy, plus the rest of the system (controllers, SRAM,
interface: ``system.search_power`` minus the NAND chips' budget) for the search's duration.
The arithmetic is exact INT8, so only the top k (index and score) leave the chip: no
candidates for the host to re-rank.

``nand_host_scan`` (the flow ICE replaces, priced on the edge board that runs it): every page
of the gallery is read out of NAND (``nand.planes`` pages per ``nand.read_latency``), moved
over the NAND channel and written to DRAM, then scanned by the board's processor (its
``roofline``, which reads the DRAM copy); the board draws its ``processor.static_power``
while it waits on the storage. One read serves every query of the record (a batch of probes
shares it), while ICE runs one VVM per query and page. Where each profile's gallery lives is
its ``gallery`` field (:mod:`seqbench.accel.gallery`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from seqbench.accel.mappings import Context, Mapping, OpCost, register
from seqbench.accel.mappings.host import Roofline

if TYPE_CHECKING:
    from seqbench.accel.view import ProfileView
    from seqbench.trace import OpRecord

CHANNEL = {"nand.interface_bandwidth": "bandwidth", "nand.interface_energy": "energy_per_bit"}


def parallel_vvms(profile: ProfileView) -> int:
    """VVMs that run at once: as many as the NAND chips' power budget holds (at least one)."""
    budget = profile.get("nand.array_power", "power")
    return max(1, math.floor(budget / profile.get("nand.vvm_power", "power")))


class NandSearch(Mapping):
    name = "nand_search"

    def requires(self, profile: ProfileView) -> dict[str, str]:
        return {
            **CHANNEL,
            "precision.vector_bits": "bits",
            "nand.bytes_per_vvm": "bytes",
            "nand.vvm_latency": "time",
            "nand.vvm_energy": "energy",
            "nand.array_power": "power",
            "nand.vvm_power": "power",
            "system.search_power": "power",
        }

    def cost(self, op: OpRecord, profile: ProfileView, ctx: Context) -> OpCost:
        queries, dims, vectors = op.dims["m"], op.dims["k"], op.dims["n"]
        top_k = int(op.meta.get("k", 1))
        gallery_bytes = vectors * dims * profile.get("precision.vector_bits", "bits") / 8
        vvms = queries * math.ceil(gallery_bytes / profile.get("nand.bytes_per_vvm", "bytes"))
        concurrent = parallel_vvms(profile)
        t_search = math.ceil(vvms / concurrent) * profile.get("nand.vvm_latency", "time")
        e_vvm = vvms * profile.get("nand.vvm_energy", "energy")
        # controllers, SRAM and interface draw the rest of the system power while searching
        rest_power = profile.get("system.search_power", "power") - profile.get(
            "nand.array_power", "power"
        )
        e_rest = t_search * max(0.0, rest_power)
        cost = OpCost(effective_macs=op.macs)
        cost.add("search", t_search, e_vvm)
        cost.add("data_movement", 0.0, e_rest)
        result_bits = queries * top_k * 2 * 32  # index and score per result
        cost.add(
            "data_movement",
            result_bits / 8 / profile.get("nand.interface_bandwidth", "bandwidth"),
            result_bits * profile.get("nand.interface_energy", "energy_per_bit"),
        )
        cost.count("nand_vvms", vvms)
        cost.count("nand_concurrent_vvms", min(concurrent, vvms))
        return cost


class NandHostScan(Mapping):
    name = "nand_host_scan"

    def requires(self, profile: ProfileView) -> dict[str, str]:
        return {
            **Roofline().requires(profile),
            **CHANNEL,
            "nand.page_bytes": "bytes",
            "nand.read_latency": "time",
            "nand.read_energy": "energy",
            "nand.planes": "count",
        }

    def cost(self, op: OpRecord, profile: ProfileView, ctx: Context) -> OpCost:
        vectors, dims = op.dims["n"], op.dims["k"]
        gallery_bytes = vectors * dims * profile.get("processor.bytes_per_element", "bytes")
        pages = math.ceil(gallery_bytes / profile.get("nand.page_bytes", "bytes"))
        planes = profile.get("nand.planes", "count")
        t_read = math.ceil(pages / planes) * profile.get(
            "nand.read_latency", "time"
        ) + gallery_bytes / profile.get("nand.interface_bandwidth", "bandwidth")
        cost = OpCost()
        # one read per record, whatever its queries; the DRAM write here, the scan's DRAM
        # read in the roofline below
        cost.add(
            "data_movement",
            t_read,
            pages * profile.get("nand.read_energy", "energy")
            + gallery_bytes
            * 8
            * (
                profile.get("nand.interface_energy", "energy_per_bit")
                + profile.get("processor.energy_per_bit", "energy_per_bit")
            )
            + t_read * profile.get("processor.static_power", "power"),
        )
        cost.merge(Roofline().cost(op, profile, ctx))  # the board scores what it read
        cost.count("nand_page_reads", pages)
        return cost


register(NandSearch())
register(NandHostScan())
