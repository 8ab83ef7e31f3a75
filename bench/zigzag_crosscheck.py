"""A second opinion: one layer on a profile's crossbar macro, priced by seqbench and by ZigZag.

ZigZag (KU Leuven, ``pip install seqbench[crosscheck]``: ``zigzag-dse`` plus ``six``, which its
metadata omits) models analog in-memory computing macros built from 1-bit SRAM cells, with
its own 28 nm ADC/DAC/array energies. What of a seqbench ReRAM profile it can express: the
array geometry (rows; weights per array), input and weight precision, the bits fed per
cycle (``dac.bits``) and the ADC resolution. What it cannot: multi-level ReRAM cells
(2- or 4-bit conductances: ZigZag's weights are bit-sliced over 1-bit cells), ReRAM read
and write energies and latencies (its cells are SRAM), ISAAC's flipped encoding, and the
chip's array budget (ZigZag maps onto one macro and streams weights from its memories). So
the figures below agree only in order of magnitude by construction; the report states
the ratio, not a pass/fail.

    python -m bench.zigzag_crosscheck            # Gemm 128 x 512 by 512 x 512 on retransformer
    python -m bench.zigzag_crosscheck --profile pipelayer --m 64 --k 256 --n 256
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import yaml

from seqbench.accel.cost import simulate
from seqbench.accel.mappings.reram import Crossbar, crossbar_mvm
from seqbench.accel.profile import load_named
from seqbench.trace import OpRecord, Trace


def _gemm_onnx(m: int, k: int, n: int, path: Path) -> None:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.zeros((k, n), dtype=np.float32), "W")
    node = helper.make_node("Gemm", ["X", "W"], ["Y"], name="layer")
    graph = helper.make_graph(
        [node],
        "gemm",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [m, k])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [m, n])],
        [weight],
    )
    onnx.save(helper.make_model(graph), str(path))


def _macro_yaml(xb: Crossbar, template: Path, path: Path) -> None:
    """ZigZag's bundled analog macro with the profile's geometry, precisions and ADC."""
    hw = yaml.safe_load(template.read_text(encoding="utf-8"))
    array = hw["operational_array"]
    array["input_precision"] = [xb.input_bits, xb.weight_bits]
    array["bit_serial_precision"] = xb.dac_bits
    array["adc_resolution"] = xb.adc_bits
    # D1: weights side by side (output channels), D2: rows (the reduction)
    array["sizes"] = [xb.cols // xb.cols_per_weight, xb.rows]
    hw["memories"]["cells"]["size"] = xb.weight_bits
    path.write_text(yaml.safe_dump(hw), encoding="utf-8")


def crosscheck(profile_name: str, m: int, k: int, n: int) -> dict[str, float]:
    """Energy (J) and latency (s) of one m x k by k x n product from both models."""
    import zigzag
    from zigzag.api import get_hardware_performance_zigzag

    profile = load_named(profile_name)
    xb = Crossbar.from_profile(profile)
    inputs = Path(zigzag.__file__).parent / "inputs"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _gemm_onnx(m, k, n, folder / "gemm.onnx")
        _macro_yaml(xb, inputs / "hardware" / "aimc.yaml", folder / "macro.yaml")
        logging.disable(logging.INFO)
        start = time.perf_counter()
        energy_pj, cycles, tclk_ns, _area, cmes = get_hardware_performance_zigzag(
            str(folder / "gemm.onnx"),
            str(folder / "macro.yaml"),
            str(inputs / "mapping" / "default_imc.yaml"),
            in_memory_compute=True,
            dump_folder=str(folder / "out"),
            loma_show_progress_bar=False,
        )
        zz_seconds = time.perf_counter() - start
    cme = cmes[0][0]
    op = OpRecord(
        name="layers.0.gemm",
        op_class="matmul_static",
        shapes=[[m, k], [n, k]],
        out_shape=[m, n],
        macs=m * k * n,
        elems_in=m * k,
        elems_weight=k * n,
        elems_out=m * n,
        dims={"g": 1, "m": m, "k": k, "n": n},
    )
    sim = simulate(Trace([op], 1, m, "token", {}), profile)
    compute = sim.breakdown["matmul_static"]
    work = crossbar_mvm(xb, m, k, n)
    return {
        # one macro, tiles one after another: what ZigZag's single macro does
        "seqbench_one_macro_s": work.time * work.arrays,
        "seqbench_energy_J": sim.energy_J,
        "seqbench_array_energy_J": compute["energy_J"],
        "seqbench_latency_s": sim.latency_s_per_sample,
        "zigzag_energy_J": energy_pj * 1e-12,
        "zigzag_mac_energy_J": cme.mac_energy * 1e-12,
        "zigzag_latency_s": cycles * tclk_ns * 1e-9,
        "zigzag_cycles": cycles,
        "zigzag_clock_ns": tclk_ns,
        "zigzag_wall_s": zz_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="retransformer")
    parser.add_argument("--m", type=int, default=128)
    parser.add_argument("--k", type=int, default=512)
    parser.add_argument("--n", type=int, default=512)
    args = parser.parse_args()
    r = crosscheck(args.profile, args.m, args.k, args.n)
    print(f"{args.profile}: Gemm {args.m} x {args.k} by {args.k} x {args.n}")
    print(
        f"  array energy (cells, ADC, DAC, shift-add)  seqbench "
        f"{r['seqbench_array_energy_J'] * 1e6:.3f} uJ | ZigZag {r['zigzag_mac_energy_J'] * 1e6:.3f}"
        f" uJ | ratio {r['seqbench_array_energy_J'] / r['zigzag_mac_energy_J']:.2f}"
    )
    print(
        f"  total energy  seqbench {r['seqbench_energy_J'] * 1e6:.3f} uJ (weights resident) | "
        f"ZigZag {r['zigzag_energy_J'] * 1e6:.3f} uJ (weights streamed from its DRAM)"
    )
    print(
        f"  latency on one macro  seqbench {r['seqbench_one_macro_s'] * 1e6:.1f} us | ZigZag "
        f"{r['zigzag_latency_s'] * 1e6:.1f} us ({r['zigzag_cycles']:.0f} cycles x "
        f"{r['zigzag_clock_ns']:.2f} ns) | ratio "
        f"{r['seqbench_one_macro_s'] / r['zigzag_latency_s']:.2f}"
    )
    print(f"  seqbench on the profile's chip: {r['seqbench_latency_s'] * 1e6:.2f} us")
    print(f"  ZigZag ran {r['zigzag_wall_s']:.1f} s")


if __name__ == "__main__":
    main()
