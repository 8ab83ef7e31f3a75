"""Where a search finds its gallery (the profiles' ``gallery`` field), the edge board that reads
it out of NAND (ICE's baseline), and one pricing of ICE vs that baseline for ``accels
validate`` and the faces board's gallery table."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from seqbench import paths
from seqbench.accel import gallery, workloads
from seqbench.accel import profile as profile_mod
from seqbench.accel.cost import simulate
from seqbench.accel.profile import gallery_label, load_named, load_profile
from seqbench.accel.validate_ice import BASELINE, BOARD_SETTING, RESIDENT, search_ratios
from seqbench.errors import SeqbenchError
from seqbench.evaluate import simulate_phases
from seqbench.families.faces import scaling
from seqbench.report.tables import workload_rows


@pytest.fixture(autouse=True)
def fresh_profiles():
    profile_mod._CACHE.clear()
    yield
    profile_mod._CACHE.clear()


def _ice_variant(tmp_path: Path, old: str, new: str) -> Path:
    text = (paths.accelerators_dir() / "ice.yaml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "ice.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


ICE_GALLERY = re.search(
    r"^gallery: .*$", (paths.accelerators_dir() / "ice.yaml").read_text(encoding="utf-8"), re.M
).group(0)


@pytest.mark.parametrize(
    ("new", "pattern"),
    [
        ("", r"similarity_search: nand_search needs `gallery: \{storage: nand"),
        ("gallery: {storage: dram, source: x}", r"storage dram but similarity_search: nand_search"),
        ("gallery: {storage: ssd, source: x}", r"gallery storage 'ssd' is not one of dram, nand"),
        ("gallery: {storage: nand}", r"neither a source nor `assumed: true`"),
        ("gallery: {storage: nand, assumed: true}", r"assumed gallery storage lacks `why`"),
    ],
)
def test_a_search_names_where_its_gallery_lives(tmp_path, new, pattern):
    with pytest.raises(SeqbenchError, match=pattern) as info:
        load_profile(_ice_variant(tmp_path, ICE_GALLERY, new))
    assert "\n" not in str(info.value)


def test_every_search_profile_says_where_its_gallery_is():
    labels = {name: gallery_label(load_named(name)) for name in ("ice", BASELINE, RESIDENT)}
    assert labels == {
        "ice": "NAND, searched in place",
        BASELINE: "NAND, read into DRAM per search",
        RESIDENT: "DRAM, resident (assumed)",
    }
    assert gallery_label(load_named("multcim")) == "DRAM, resident (assumed), on cpu"


def test_the_two_edge_profiles_are_one_board():
    """edge-cpu-nand repeats edge-cpu's processor: only where the gallery lives differs."""
    nand, dram = load_named(BASELINE), load_named(RESIDENT)
    processor = {p: (v.raw, v.unit) for p, v in dram.params.items()}
    assert {p: (v.raw, v.unit) for p, v in nand.params.items() if p in processor} == processor
    assert {k: v for k, v in nand.mapping.items() if k != gallery.SEARCH} == {
        k: v for k, v in dram.mapping.items() if k != gallery.SEARCH
    }


def test_nand_host_scan_by_hand():
    """100,000 x 512 INT8 = 51.2 MB = 3,125 pages: 782 four-plane reads of 50 us plus 51.2 MB
    over 800 MB/s; energy 2 uJ per page, 5 pJ/bit of channel and one 20 pJ/bit DRAM write per
    bit, and the board's 3 W while it waits; then the edge-cpu roofline scans the DRAM copy
    (the DRAM read counted there, once)."""
    trace = workloads.face_search(gallery=100_000, dims=512, queries=1, k=10)
    base = simulate(trace, load_named(BASELINE))
    scan = simulate(trace, load_named(RESIDENT))  # the same board, the gallery in DRAM
    nbytes = 100_000 * 512
    t_read = math.ceil(3125 / 4) * 50e-6 + nbytes / 800e6
    e_read = 3125 * 2e-6 + nbytes * 8 * (5e-12 + 20e-12) + 3.0 * t_read
    assert base.counters["nand_page_reads"] == 3125
    assert base.latency_s_per_sample == pytest.approx(t_read + scan.latency_s_per_sample)
    assert base.energy_J == pytest.approx(e_read + scan.energy_J)


def test_validate_and_the_board_agree_at_equal_settings(monkeypatch):
    """The board's gallery row (a real chunked search traced, priced per profile as the eval
    stage prices it, read back as the board reads it) gives the ratio validate computes for
    the same gallery, dimension and probes."""
    monkeypatch.setattr(scaling, "CHUNK", 1024)  # four traced chunks
    dims, vectors, probes = 512, 4096, 2
    generator = torch.Generator().manual_seed(0)
    real = torch.nn.functional.normalize(torch.randn(8, dims, generator=generator), dim=-1)
    labels = np.arange(8)
    row = scaling.search_at("4K", vectors, real, labels, real[:probes], labels[:probes], 10, 0)
    assert sum(r.count for r in row.trace.records) == 4

    def board(name: str) -> dict:
        record = {
            "workloads": [{**row.info(), "simulated": simulate_phases(row.trace, load_named(name))}]
        }
        return workload_rows(record)[0]

    ice, base = board("ice"), board(BASELINE)
    on_board = (
        ice["sim searches/s"] / base["sim searches/s"],
        base["µJ/search"] / ice["µJ/search"],
    )
    same = workloads.face_search(gallery=vectors, dims=dims, queries=probes, k=10)
    validated = search_ratios(same, load_named("ice"), load_named(BASELINE))
    # four traced chunks pay the board's 1 us call overhead four times, validate's record once
    assert on_board == pytest.approx(validated, rel=1e-3)


def test_validates_board_setting_is_the_faces_boards():
    spec = yaml.safe_load((paths.tasks_dir() / "synth-faces.yaml").read_text(encoding="utf-8"))
    full = spec["presets"]["full"]
    assert BOARD_SETTING["dims"] == full["model"]["embed_dim"]
    assert BOARD_SETTING["queries"] == full["scaling"]["queries"]
    assert BOARD_SETTING["gallery"] in scaling.SIZES.values()


def test_ice_beats_the_from_storage_board_and_a_batch_narrows_it():
    """One 512-d query of ICE's CASIA: ICE well ahead of the board reading NAND; 16 probes
    searched together share the board's read (ICE scores each), so the gap narrows."""
    ice, base = load_named("ice"), load_named(BASELINE)
    one = search_ratios(workloads.face_search(gallery=3_906_250, dims=512, k=10), ice, base)
    batch = search_ratios(workloads.face_search(**BOARD_SETTING, k=10), ice, base)
    assert one[0] > 10 and one[1] > 10
    assert 1 < batch[0] < one[0] and 1 < batch[1] < one[1]
