"""Published digital SRAM-CIM macros priced with seqbench's digital-CIM mapping (``validate``).

``accelerators/macros/dimc.yaml`` holds each macro's organisation, supply and measured TOPS/W
(the set ZigZag-IMC validated against). Each macro's energy per 1-bit x W-bit MAC step comes
from its gates: per input and cycle, ``b x W`` AND gates (half their inputs switch: weights
stay) and ``W / w_m`` adder-tree inputs of ``b + w_m`` bits (``b + w_m + 1`` full adders
each, the tree's growth included), both at the stated activity (input toggle x weight
density); per output and cycle, the accumulator and the combining of the weight-bit columns,
shared by the tree's inputs. Gates are counted in NAND2 input capacitances (a full adder = 2
XOR2 + 3 NAND2 = 6, an XOR2 = 1.5, as ZigZag-IMC counts them); energy = count x C x Vdd^2.
``C`` is the one fitted constant: fitted on one macro whose test conditions are published
(``calibrate_on`` in the data file), the others predicted with it. The per-bit-MAC energy
then goes into the ``multcim`` profile's digital-CIM mapping (buffer energy off: a macro's
TOPS/W excludes the buffers) and a matmul is priced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from seqbench import paths
from seqbench.accel.cost import simulate
from seqbench.accel.protocol import CALIBRATED, PREDICTED, TOLERANCE, Fit, solve
from seqbench.trace import OpRecord, Trace

MACROS = "macros/dimc.yaml"
FULL_ADDER, AND_SWITCHING = 6.0, 0.5  # NAND2 capacitances per full adder / per AND (one side)


def load_macros() -> dict[str, Any]:
    path = paths.accelerators_dir() / MACROS
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


def measured_fj_per_mac(macro: dict[str, Any]) -> float:
    """fJ per 8b x 8b MAC from the published TOPS/W (2 operations per MAC)."""
    return 2.0 / macro["tops_per_w"] * 1e3


def switched_gates_per_mac(macro: dict[str, Any], activity: float) -> float:
    """NAND2 capacitances switched per full-precision MAC (see the module docstring)."""
    b, w = macro["input_bits_per_cycle"], macro["weight_bits"]
    w_m, rows = macro["weight_bits_per_multiplier"], macro["inputs_per_tree"]
    acc = macro["accumulator_bits"]
    columns = w / w_m
    per_input = activity * (AND_SWITCHING * b * w + FULL_ADDER * columns * (b + w_m + 1))
    per_output = FULL_ADDER * acc * columns  # accumulator + combining the columns' sums
    cycles = macro["input_bits"] / b
    return cycles * (per_input + per_output / rows)


def _one_matmul(rows: int) -> Trace:
    """One input vector through a ``rows`` x 64 weight (a macro-sized matmul)."""
    record = OpRecord(
        name="macro.0.matmul",
        op_class="matmul_static",
        shapes=[[1, rows], [rows, 64]],
        out_shape=[1, 64],
        macs=rows * 64,
        elems_in=rows,
        elems_weight=rows * 64,
        elems_out=64,
        dims={"g": 1, "m": 1, "k": rows, "n": 64},
    )
    return Trace([record], 1, 1, "sample", {})


def priced_fj_per_mac(
    reg: Any, macro: dict[str, Any], capacitance: float, activity: float
) -> float:
    """The macro through seqbench's digital-CIM mapping: fJ per MAC of a priced matmul."""
    mac_j = capacitance * switched_gates_per_mac(macro, activity) * macro["vdd"] ** 2
    profile = reg.get("multcim").derive(
        {
            "cim.energy_per_bit_mac": mac_j / macro["input_bits"] * 1e15,  # fJ/op
            "precision.input_bits": macro["input_bits"],
            "precision.weight_bits": macro["weight_bits"],
            "cim.clock": macro["clock_mhz"],
            "buffer.energy": 0.0,
        }
    )
    sim = simulate(_one_matmul(macro["inputs_per_tree"]), profile, host=reg.get("cpu"))
    return sim.energy_J / sim.dense_macs * 1e15


def macro_rows(reg: Any) -> list[dict[str, Any]]:
    """Model vs measured fJ/MAC for every macro in the data file, as
    :class:`seqbench.accel.validate.Check` takes them: the calibration macro fits C, the
    others are predicted with it; a miss carries the C that would close it."""
    data = load_macros()
    macros, act, prior = data["macros"], data["activity"], data["capacitance"]
    activity = act["input_toggle"] * act["weight_density"]
    c0 = prior["value_fF"]

    def priced(macro: dict[str, Any], c_ff: float) -> float:
        return priced_fj_per_mac(reg, macro, c_ff * 1e-15, activity)

    def fit_c(name: str) -> Fit:
        measured = measured_fj_per_mac(macros[name])
        value = solve(lambda c: priced(macros[name], c), measured, c0)
        low, high = prior["plausible_fF"]
        label = f"{measured:.1f} fJ/MAC ({name})"
        return Fit(
            "DIMC macros", "gate capacitance C", "fF", c0, value, label, low, high, prior["why"]
        )

    calibration = fit_c(data["calibrate_on"])
    fitted = calibration.used if calibration.used is not None else c0
    checks: list[dict[str, Any]] = []
    for name, m in macros.items():
        calibrating = name == data["calibrate_on"]
        measured = measured_fj_per_mac(m)
        ours = priced(m, c0 if calibrating else fitted)
        note = (
            f"{m['vdd']} V, {m['inputs_per_tree']} inputs per tree, "
            f"{m['input_bits_per_cycle']} input bit(s) per cycle, "
            f"{m['weight_bits_per_multiplier']}-bit weight multipliers, activity "
            f"{activity:g} (input toggle x weight density); "
            + (
                f"ours at C = {c0:g} fF ({prior['source']}), the one constant fitted on this macro"
                if calibrating
                else f"predicted with C = {fitted:.3g} fF fitted on {data['calibrate_on']}"
            )
        )
        missing = None
        if not m["test_conditions_known"]:
            missing = (
                f"{name}'s input toggle rate and weight sparsity at its measured point (not "
                f"published; {act['input_toggle']:.0%} / {act['weight_density']:.0%} assumed)"
            )
        elif not calibrating:
            missing = (
                f"{name}'s gate-level switching (its netlist): the model counts gates from "
                "the published organisation only"
            )
        row = dict(
            paper_name=f"DIMC macro {name}",
            claim="energy per 8b MAC",
            paper=round(measured, 1),
            ours=ours,
            unit="fJ/MAC",
            source=f"{m['paper']} (doi {m['doi']}), via ZigZag-IMC's validation set",
            note=note,
            missing=missing,
            role=CALIBRATED if calibrating else PREDICTED,
            calibration=calibration,
        )
        if not calibrating and abs(ours - measured) > TOLERANCE * measured:
            row["sensitivity"] = fit_c(name)
        checks.append(row)
    return checks
