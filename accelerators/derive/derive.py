"""Derive the crossbar profiles' component energies from Accelergy's component library.

Run from a Python >= 3.12 venv that has the `hwcomponents` packages (see README.md here):

    /tmp/hwc/bin/python accelerators/derive/derive.py

It writes ``accelerators/derive/derived.yaml`` (every derived number, with the package, version,
component and arguments it came from) and sets the same values and sources in the profiles
(``accelerators/*.yaml``), line by line, so the profiles stay hand-readable. ``--check`` only
compares and exits 1 on a difference. seqbench itself (Python 3.11) never imports this file;
tests/test_derived.py checks that the profiles hold what this script last wrote.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
PROFILES = HERE.parent
DERIVED = HERE / "derived.yaml"
NODE = 32e-9  # ISAAC's node (ISCA'16: 32 nm); also NeuroSim's default

# ISAAC ISCA'16 Table 1 powers (W) of the units Accelergy's library does not carry, and the time
# Accelergy's isaac.py charges them over: one IMA consuming its 16384-bit input register,
# 16384 / (128 x 8 x 1.2e7 x 100 / 128) s (= 16 input bits x 128 columns / 1.2 GS/s).
IMA_WINDOW = 16384 / (128 * 8 * 1.2e7 * 100 / 128)
IMA_INPUT_BITS, IMA_OUTPUT_BITS = 16384, 2048  # per window: 8 arrays x 128 rows x 16 bits in
IR_POWER, IMA_OR_POWER, TILE_OR_POWER, IMAS_PER_TILE = 1.24e-3, 0.23e-3, 1.68e-3, 12


@dataclass
class Entry:
    """One derived parameter of one profile."""

    profile: str
    param: str
    value: float
    unit: str
    source: str


def pkg(name: str) -> str:
    return f"{name} {version(name)}"


def _neurosim_binary() -> None:
    """Point hwcomponents-neurosim at a NeuroSim binary that runs here.

    The wheel ships a prebuilt ``NeuroSim/main`` linked against a newer glibc than some
    systems have; it also ships the sources (DNN_NeuroSim_V1.3 plus its drop-in files), so
    build them once into a cache folder when the shipped binary does not start."""
    import hwcomponents_neurosim
    import hwcomponents_neurosim.neurointerface as ni

    probe = subprocess.run([ni.NEUROSIM_PATH], capture_output=True, text=True)
    if "GLIBC" not in probe.stderr and "GLIBCXX" not in probe.stderr:
        return
    root = Path(hwcomponents_neurosim.__file__).parent
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "seqbench-neurosim"
    built = cache / f"main-{version('hwcomponents-neurosim')}"
    if not built.exists():
        print(f"building NeuroSim from the wheel's sources into {cache} (once)", file=sys.stderr)
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "NeuroSIM"
            shutil.copytree(root / "DNN_NeuroSim_V1.3" / "Inference_pytorch" / "NeuroSIM", src)
            for f in (root / "drop_in").iterdir():
                shutil.copy(f, src / f.name)
            subprocess.run(["make", "-j2"], cwd=src, check=True, capture_output=True)
            cache.mkdir(parents=True, exist_ok=True)
            shutil.copy(src / "main", built)
    ni.NEUROSIM_PATH = str(built)


def isaac_library() -> dict[str, tuple[float, str]]:
    """Per-action energies (SI) of ISAAC's components in hwcomponents-library, by role."""
    from hwcomponents_library.library import isaac as lib

    src = f"{pkg('hwcomponents-library')} (on {pkg('hwcomponents')})"
    edram = lib.IsaacEDRAM(tech_node=NODE, width=256, depth=2048).read().energy
    return {
        "adc": (
            lib.IsaacADC(tech_node=NODE, resolution=8).convert().energy,
            f"{src}: IsaacADC(32 nm, 8 bits).convert, after Kull et al. ISSCC'13; ISAAC "
            "Table 1: 8 ADCs 16 mW at 1.2 GS/s",
        ),
        "dac": (
            lib.IsaacDAC(tech_node=NODE, resolution=1).convert().energy,
            f"{src}: IsaacDAC(32 nm, 1 bit).convert; ISAAC Table 1: 8 x 128 DACs 4 mW",
        ),
        "shift_add": (
            lib.IsaacShiftAdd(tech_node=NODE, width=16).shift_add().energy,
            f"{src}: IsaacShiftAdd(32 nm, 16 bits); ISAAC Table 1: 4 units 0.2 mW",
        ),
        "buffer": (
            edram / 256,
            f"{src}: IsaacEDRAM(32 nm, 256 x 2048).read / 256 bits; ISAAC Table 1: "
            "64 KB eDRAM 20.7 mW per tile",
        ),
        "bus": (
            lib.IsaacEDRAMBus(tech_node=NODE, width=1).read().energy,
            f"{src}: IsaacEDRAMBus(32 nm, 1 bit).read; ISAAC Table 1: 384-wire bus 7 mW per tile",
        ),
        "router": (
            lib.IsaacRouterSharedByFour(tech_node=NODE, width=256).transfer().energy / 256,
            f"{src}: IsaacRouterSharedByFour(32 nm, 256 bits).transfer / 256 bits; "
            "ISAAC Table 1: router 42 mW shared by 4 tiles",
        ),
        "chip_io": (
            lib.IsaacChip2ChipLink(tech_node=NODE, width=128).read().energy / 128,
            f"{src}: IsaacChip2ChipLink(scaled 65 -> 32 nm, 128 bits).read / 128 bits",
        ),
    }


def isaac_registers() -> dict[str, tuple[float, str]]:
    """IR/OR energy per bit access from ISAAC's Table 1 powers, by Accelergy's method."""
    how = (
        "ISAAC ISCA'16 Table 1 by Accelergy isaac.py's method (power x the time an IMA takes "
        "to consume its 16384-bit input register / bit accesses, each bit written and read)"
    )
    ir = IR_POWER * IMA_WINDOW / (2 * IMA_INPUT_BITS)
    out = (IMA_OR_POWER + TILE_OR_POWER / IMAS_PER_TILE) * IMA_WINDOW / (2 * IMA_OUTPUT_BITS)
    return {
        "input_register": (ir, f"{how}: IR 2 KB 1.24 mW per IMA (accelerators/derive)"),
        "output_register": (
            out,
            f"{how}: OR 256 B 0.23 mW per IMA + tile OR 3 KB 1.68 mW / "
            "12 IMAs (accelerators/derive)",
        ),
    }


# NeuroSim inputs for ReTransformer (ICCAD'20 made its circuit table with NeuroSim): the array
# size is ISAAC's (ReTransformer's own is not public), the ADC is 8 bits as in the profile;
# node, cell, activity and pulse width are NeuroSim's defaults / samples: ASSUMED.
NEUROSIM_ARRAY = dict(
    tech_node=NODE,
    cycle_period=1e-9,
    rows=128,
    cols=128,
    cols_active_at_once=16,
    cell_config="nvsim_RRAM",
    average_input_value=0.5,
    average_cell_value=0.5,
    read_pulse_width=1e-8,
    adc_resolution=8,
)
NEUROSIM_ASSUMED = (
    "32 nm node, NVSim's sample RRAM cell (Ron 1 Mohm / Roff 10 Mohm at read), "
    "half the inputs and cells on, 10 ns read pulse, 16 columns per ADC step"
)


def neurosim() -> dict[str, tuple[float, str]]:
    """ReTransformer's array, ADC, driver and shift-add energies from hwcomponents-neurosim."""
    import hwcomponents_neurosim
    from hwcomponents_neurosim import main as ns

    _neurosim_binary()
    cell = Path(hwcomponents_neurosim.__file__).parent / "cells" / "nvsim_RRAM.cell"
    kw = {**NEUROSIM_ARRAY, "cell_config": str(cell)}
    rows, cols = kw["rows"], kw["cols"]
    adc = ns.ADC(**kw)
    row = ns.RowDrivers(**kw)
    # ColDrivers in hwcomponents-neurosim 1.0.43 reports the crossbar's column energy with
    # its ADC (its query zeroes adc_resolution on a dict it never passes on); built without
    # an ADC it gives the drivers alone, so the ADC is not counted twice
    col = ns.ColDrivers(**{**kw, "adc_resolution": 0})
    mem = ns.MemoryCell(**kw)
    shift = ns.ShiftAdd(tech_node=NODE, cycle_period=1e-9, n_bits=8, shift_register_n_bits=16)
    src = f"{pkg('hwcomponents-neurosim')} (NeuroSim V1.3) at 128 x 128, 8-bit ADC"
    note = f"; assumed inputs: {NEUROSIM_ASSUMED}"
    return {
        "adc": (adc.read().energy, f"{src}: ADC.read per column converted{note}"),
        "dac": (row.read().energy, f"{src}: RowDrivers.read per row driven{note}"),
        "read": (
            cols * col.read().energy + rows * cols * mem.read().energy,
            f"{src}: one array activation = {cols} x ColDrivers(no ADC).read + {rows}x{cols} "
            f"x MemoryCell.read{note}",
        ),
        "shift_add": (shift.read().energy, f"{src}: ShiftAdd(8 -> 16 bits).read{note}"),
    }


def entries() -> list[Entry]:
    lib, regs = isaac_library(), isaac_registers()
    pj, pj_bit = 1e12, 1e12
    out: list[Entry] = []

    def add(profile: str, param: str, pair: tuple[float, str], scale: float, unit: str) -> None:
        out.append(Entry(profile, param, float(f"{pair[0] * scale:.6g}"), unit, pair[1]))

    for profile in ("isaac", "pipelayer", "retransformer"):
        add(profile, "bus.energy", lib["bus"], pj_bit, "pJ/bit")
        add(profile, "router.energy", lib["router"], pj_bit, "pJ/bit")
        add(profile, "registers.input_energy", regs["input_register"], pj_bit, "pJ/bit")
        add(profile, "registers.output_energy", regs["output_register"], pj_bit, "pJ/bit")
        add(profile, "chip_io.energy", lib["chip_io"], pj_bit, "pJ/bit")
    add("isaac", "adc.energy", lib["adc"], pj, "pJ")
    add("isaac", "dac.energy", lib["dac"], pj, "pJ")
    add("isaac", "shift_add.energy", lib["shift_add"], pj, "pJ")
    add("isaac", "buffer.energy", lib["buffer"], pj_bit, "pJ/bit")
    sim = neurosim()
    add("retransformer", "adc.energy", sim["adc"], pj, "pJ")
    add("retransformer", "dac.energy", sim["dac"], pj, "pJ")
    add("retransformer", "crossbar.read_energy", sim["read"], pj, "pJ")
    add("retransformer", "shift_add.energy", sim["shift_add"], pj, "pJ")
    return out


LINE = re.compile(r"^(?P<indent>\s{4})(?P<name>\w+): \{(?P<body>.*)\}(?P<tail>\s*(#.*)?)$")


def _yaml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def update_profile(path: Path, mine: list[Entry], check: bool) -> list[str]:
    """Set each entry's value/unit/source on its line of ``path``; the differences found."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    wanted = {e.param: e for e in mine}
    component, seen, diffs = None, set(), []
    for i, line in enumerate(lines):
        header = re.match(r"^  (\w+):\s*(#.*)?$", line)
        if header:
            component = header.group(1)
            continue
        m = LINE.match(line.rstrip("\n"))
        if not m or component is None or f"{component}.{m['name']}" not in wanted:
            continue
        e = wanted[f"{component}.{m['name']}"]
        seen.add(e.param)
        current = yaml.safe_load("{" + m["body"] + "}")
        if (current.get("value"), current.get("unit"), current.get("source")) != (
            e.value,
            e.unit,
            e.source,
        ):
            diffs.append(f"{path.name}: {e.param} {current.get('value')} -> {e.value} {e.unit}")
        new = (
            f"{m['indent']}{m['name']}: {{value: {e.value:g}, unit: {e.unit}, "
            f"source: {_yaml_str(e.source)}}}\n"
        )
        lines[i] = new
    missing = sorted(set(wanted) - seen)
    if missing:
        raise SystemExit(f"{path.name} lacks the lines {missing}: add them (any value) first")
    if diffs and not check:
        tmp = path.with_suffix(".yaml.tmp")
        tmp.write_text("".join(lines), encoding="utf-8")
        os.replace(tmp, path)
    return diffs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 if stale")
    args = parser.parse_args()
    found = entries()
    record = {
        "generated_by": "accelerators/derive/derive.py",
        "packages": {
            n: version(n) for n in ("hwcomponents", "hwcomponents-library", "hwcomponents-neurosim")
        },
        "neurosim_assumed_inputs": NEUROSIM_ASSUMED,
        "entries": [e.__dict__ for e in found],
    }
    diffs: list[str] = []
    for profile in sorted({e.profile for e in found}):
        mine = [e for e in found if e.profile == profile]
        diffs += update_profile(PROFILES / f"{profile}.yaml", mine, args.check)
    text = yaml.safe_dump(record, sort_keys=False, width=100, allow_unicode=True)
    old = DERIVED.read_text(encoding="utf-8") if DERIVED.exists() else ""
    if text != old:
        diffs.append(f"{DERIVED.name} changed")
        if not args.check:
            tmp = DERIVED.with_suffix(".yaml.tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, DERIVED)
    for d in diffs:
        print(d)
    print(
        f"{len(found)} derived values; {len(diffs)} differences"
        + (" (checked only)" if args.check else " written")
    )
    return 1 if (args.check and diffs) else 0


if __name__ == "__main__":
    sys.exit(main())
