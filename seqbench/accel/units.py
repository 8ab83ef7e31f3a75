"""The unit table of accelerator profiles: every number is converted to SI on load.

A profile writes ``{value: 1.67, unit: pJ}``; the loader checks ``pJ`` is a known unit and
the consumer asks for a *dimension* (``energy``), so a latency written in ``pJ`` is rejected
with a message naming the parameter instead of silently becoming nonsense.
"""

from __future__ import annotations

# unit -> (dimension, factor to the SI base of that dimension)
UNITS: dict[str, tuple[str, float]] = {
    # energy (J)
    "fJ": ("energy", 1e-15),
    "pJ": ("energy", 1e-12),
    "nJ": ("energy", 1e-9),
    "uJ": ("energy", 1e-6),
    "mJ": ("energy", 1e-3),
    "J": ("energy", 1.0),
    # energy per bit / per byte (J/bit)
    "fJ/bit": ("energy_per_bit", 1e-15),
    "pJ/bit": ("energy_per_bit", 1e-12),
    "nJ/bit": ("energy_per_bit", 1e-9),
    "pJ/B": ("energy_per_bit", 1e-12 / 8),
    "nJ/B": ("energy_per_bit", 1e-9 / 8),
    # energy per operation (J/op), e.g. per FLOP or per 1-bit MAC
    "fJ/op": ("energy_per_op", 1e-15),
    "pJ/op": ("energy_per_op", 1e-12),
    "nJ/op": ("energy_per_op", 1e-9),
    # time (s)
    "ps": ("time", 1e-12),
    "ns": ("time", 1e-9),
    "us": ("time", 1e-6),
    "ms": ("time", 1e-3),
    "s": ("time", 1.0),
    # frequency / sample rate (1/s)
    "Hz": ("frequency", 1.0),
    "kHz": ("frequency", 1e3),
    "MHz": ("frequency", 1e6),
    "GHz": ("frequency", 1e9),
    "S/s": ("frequency", 1.0),
    "MS/s": ("frequency", 1e6),
    "GS/s": ("frequency", 1e9),
    # power (W)
    "uW": ("power", 1e-6),
    "mW": ("power", 1e-3),
    "W": ("power", 1.0),
    # compute rate (FLOP/s or op/s)
    "GFLOP/s": ("compute_rate", 1e9),
    "TFLOP/s": ("compute_rate", 1e12),
    "GOP/s": ("compute_rate", 1e9),
    "TOP/s": ("compute_rate", 1e12),
    # bandwidth (bytes/s)
    "MB/s": ("bandwidth", 1e6),
    "GB/s": ("bandwidth", 1e9),
    # sizes and counts
    "bits": ("bits", 1.0),
    "B": ("bytes", 1.0),
    "KB": ("bytes", 1024.0),
    "count": ("count", 1.0),
    "fraction": ("fraction", 1.0),
    "sigma": ("fraction", 1.0),
    # area
    "um2": ("area", 1e-12),
    "mm2": ("area", 1e-6),
    # voltage / resistance (kept for device parameters)
    "V": ("voltage", 1.0),
    "ohm": ("resistance", 1.0),
    "kohm": ("resistance", 1e3),
    # technology node
    "nm": ("length", 1e-9),
}


def dimension(unit: str) -> str | None:
    """The dimension of ``unit`` (``"energy"``...), or ``None`` when it is not in the table."""
    entry = UNITS.get(unit)
    return entry[0] if entry else None


def to_si(value: float, unit: str) -> float:
    """``value`` in ``unit`` converted to the SI base of its dimension."""
    return float(value) * UNITS[unit][1]


def known_units() -> str:
    """The unit table as one line, for error messages."""
    return ", ".join(UNITS)
