"""A crossbar chip's power by component, at peak and at each component's rated rate.

A profile's chip is a set of components with an energy per action (Accelergy's view): the
arrays, their ADCs, DACs and shift-and-add units (:mod:`seqbench.accel.mappings.reram`), the
tile buffer, the bus between buffer and arrays, the router between tiles, the arrays' input
and output registers, and the chip's I/O link (``chip_io``: energy per bit plus the power its
PHYs draw while the link is up). Two views of the same components:

* :func:`peak_components`: the chip's peak work: every array streaming input vectors
  through a weight that fills it, priced per action exactly as the cost model prices a trace
  (so a model's chip power at peak is a prediction, not an input);
* :func:`rated_components`: every component at its own highest rate (the arrays at one
  activation per read, converters at their sample rates, write drivers at one line per write
  latency). The data movers have no rate of their own in the profiles: they are sized for the
  arrays' peak demand, as ISAAC sized its eDRAM, bus and router (and Accelergy's derivation
  of their energies assumes). Their sum bounds what the chip can draw.
"""

from __future__ import annotations

from seqbench.accel.mappings.reram import Crossbar, XbarWork, crossbar_mvm
from seqbench.accel.view import ProfileView

MOVERS = ("buffer", "bus", "router", "registers")


def is_crossbar_chip(p: ProfileView) -> bool:
    """A profile with crossbar arrays and a chip of tiles (the ones priced here)."""
    return p.has("crossbar.rows") and p.has("chip.tiles") and p.has("chip.arrays_per_tile")


def array_count(p: ProfileView) -> int:
    return int(p.get("chip.tiles", "count") * p.get("chip.arrays_per_tile", "count"))


def peak_work(p: ProfileView) -> XbarWork:
    """One input vector through a weight that fills one array (rows x cols / cells per weight)."""
    xb = Crossbar.from_profile(p)
    return crossbar_mvm(xb, 1, xb.rows, xb.cols // xb.cols_per_weight)


def peak_ops_per_s(p: ProfileView) -> float:
    """Dense operations (2 per MAC) per second with every array busy."""
    xb = Crossbar.from_profile(p)
    macs = xb.rows * (xb.cols // xb.cols_per_weight)
    return 2.0 * macs * array_count(p) / peak_work(p).time


def static_power(p: ProfileView) -> float:
    """W drawn while the chip runs, whatever it does (the I/O link's PHYs)."""
    return p.opt("chip_io.static_power", "power", 0.0)


def chip_io_energy(p: ProfileView, bits: float) -> float:
    """J for ``bits`` crossing the chip's I/O link (weights loaded, host traffic)."""
    return bits * p.opt("chip_io.energy", "energy_per_bit", 0.0)


def peak_components(p: ProfileView) -> dict[str, float]:
    """W per component while every array streams its full weight (plus the link's static)."""
    work = peak_work(p)
    arrays = array_count(p)
    powers = {name: e * arrays / work.time for name, e in work.components.items()}
    powers["chip_io"] = static_power(p)
    return powers


def rated_components(p: ProfileView) -> dict[str, float]:
    """W per component at its own highest rate (see the module docstring)."""
    xb = Crossbar.from_profile(p)
    arrays = array_count(p)
    adcs = xb.adcs_per_array * arrays
    peak = peak_components(p)
    powers = {
        "arrays": xb.read_energy / xb.read_latency * arrays,
        "adc": xb.adc_energy * xb.adc_rate * adcs,
        "dac": xb.dac_energy * xb.rows / xb.read_latency * arrays,
        "shift_add": xb.shift_add_energy * xb.adc_rate * adcs,
        **{name: peak[name] for name in MOVERS},
        "chip_io": static_power(p),
    }
    if xb.write_latency > 0:
        powers["writes"] = xb.row_write_energy / xb.write_latency * arrays
    return powers


def chip_power_at_peak(p: ProfileView) -> float:
    """W of the chip's peak work, every component priced per action."""
    return sum(peak_components(p).values())


def component_sum(p: ProfileView) -> float:
    """W of every component at its rated rate: the most the chip can draw."""
    return sum(rated_components(p).values())
