"""Roofline pricing of a processor (the host, or a paper's CPU/GPU baseline).

An op takes max(FLOPs / peak, bytes / bandwidth) plus a per-call overhead (kernel launch or
dispatch), and costs FLOPs x energy_per_flop + bytes x energy_per_byte + time x
static_power. Which parameter block is read is the profile setting ``machine`` (default
``host``); :meth:`Profile.variant` switches it, so one ``cpu`` profile carries the measured
host and every paper's baseline processor side by side.

The host's peak FLOP/s and memory bandwidth are ``measure`` in the profile: a short
micro-benchmark (fp32 matmul; large tensor copy) runs once and is cached in
``$SEQBENCH_HOME/accel/host_roofline.json``.
"""

from __future__ import annotations

import json
import platform
import time
from typing import TYPE_CHECKING

from seqbench import atomic, paths
from seqbench.accel.mappings import Context, Mapping, OpCost, register
from seqbench.accel.mappings.vector import CATEGORY, vector_ops

if TYPE_CHECKING:
    from seqbench.accel.profile import Profile
    from seqbench.trace import OpRecord

FIELDS = {
    "peak_flops": "compute_rate",
    "mem_bandwidth": "bandwidth",
    "energy_per_flop": "energy_per_op",
    "energy_per_byte": "energy_per_bit",
    "static_power": "power",
    "call_overhead": "time",
    "bytes_per_element": "bytes",
}
PRODUCTS = ("matmul_static", "matmul_dynamic", "conv", "recurrent_step", "similarity_search")


def machine_of(profile: Profile) -> str:
    return str(profile.setting("machine", "host"))


class Roofline(Mapping):
    name = "roofline"

    def requires(self, profile: Profile) -> dict[str, str]:
        machine = machine_of(profile)
        return {f"{machine}.{k}": dim for k, dim in FIELDS.items()}

    def cost(self, op: OpRecord, profile: Profile, ctx: Context) -> OpCost:
        m = machine_of(profile)
        elem = profile.get(f"{m}.bytes_per_element", "bytes")
        if op.op_class in PRODUCTS:
            flops = 2.0 * op.macs
            category = {
                "matmul_dynamic": "matmul_dynamic",
                "similarity_search": "search",
            }.get(op.op_class, "matmul_static")
        else:
            flops = float(vector_ops(op))
            category = CATEGORY.get(op.op_class, "elementwise")
        moved = (op.elems_in + op.elems_weight + op.elems_out) * elem
        t_compute = flops / profile.get(f"{m}.peak_flops", "compute_rate")
        t_memory = moved / profile.get(f"{m}.mem_bandwidth", "bandwidth")
        t = max(t_compute, t_memory) + profile.get(f"{m}.call_overhead", "time")
        cost = OpCost(effective_macs=op.macs)
        e_static = t * profile.get(f"{m}.static_power", "power")
        cost.add(
            category, t, flops * profile.get(f"{m}.energy_per_flop", "energy_per_op") + e_static
        )
        cost.add(
            "data_movement", 0.0, moved * 8 * profile.get(f"{m}.energy_per_byte", "energy_per_bit")
        )
        cost.count("flops", flops)
        cost.count("memory_bound_calls", 1.0 if t_memory > t_compute else 0.0)
        return cost


register(Roofline())


# --- host micro-benchmark -----------------------------------------------------------------


def _cache_path():  # noqa: ANN202
    return paths.home() / "accel" / "host_roofline.json"


def _machine_key() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    return f"{platform.node()}|{cpu}|threads={torch.get_num_threads()}"


def measure_roofline(seconds: float = 0.3) -> dict[str, float]:
    """Peak fp32 matmul FLOP/s and copy bandwidth (bytes/s) of this machine, best of a few runs."""
    import torch

    n = 512
    a, b = torch.randn(n, n), torch.randn(n, n)
    best_flops = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        for _ in range(4):
            torch.mm(a, b)
        best_flops = max(best_flops, 4 * 2 * n**3 / (time.perf_counter() - start))
    src = torch.empty(16 * 1024 * 1024)  # 64 MiB: well past the caches
    dst = torch.empty_like(src)
    best_bw = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        dst.copy_(src)
        best_bw = max(best_bw, 2 * src.numel() * 4 / (time.perf_counter() - start))
    return {"peak_flops": best_flops, "mem_bandwidth": best_bw}


def host_roofline() -> dict[str, float]:
    """The cached measurement for this machine (measured on first use)."""
    path = _cache_path()
    key = _machine_key()
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        if cached.get("machine") == key:
            return {
                "peak_flops": float(cached["peak_flops"]),
                "mem_bandwidth": float(cached["mem_bandwidth"]),
            }
    except (OSError, ValueError, KeyError):
        pass
    measured = measure_roofline()
    atomic.write_json(path, {"machine": key, **measured, "measured_at": time.time()})
    return measured


def measured_value(field: str) -> float:
    """A measured host parameter (``peak_flops`` in FLOP/s, ``mem_bandwidth`` in B/s)."""
    values = host_roofline()
    if field not in values:
        raise KeyError(f"no host measurement named {field!r}; known: {sorted(values)}")
    return values[field]
