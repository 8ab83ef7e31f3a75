"""Plots, the Pareto front and the HTML page (rendered in headless Chromium)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from seqbench import report, results
from seqbench.report.plots import pareto_front, relative_to_cpu


def test_pareto_front_of_a_hand_made_set() -> None:
    # (cost, quality): b dominates d; e ties a on cost with lower quality.
    points = [(1.0, 50.0), (2.0, 80.0), (0.5, 10.0), (3.0, 70.0), (1.0, 40.0), (4.0, 90.0)]
    assert pareto_front(points) == [2, 0, 1, 5]
    assert pareto_front([]) == []
    assert pareto_front([(1.0, 1.0), (1.0, 1.0)]) == [0]


def _record(model: str, profile: str, quality: float, latency: float, energy: float) -> dict:
    record = results.new_record(
        task="scan:simple",
        family="translation",
        split="test",
        model=model,
        profile=profile,
        preset="tiny",
        quality={
            "metrics": {"exact_match": quality},
            "primary": "exact_match",
            "signature": "nrefs:1",
        },
        host={"units_per_s": 100.0, "unit": "token", "threads": 1, "samples": 2},
        simulated={
            "latency_s_per_sample": latency,
            "throughput_units_per_s": 1 / latency,
            "energy_J_per_unit": energy,
            "power_W": 1.0,
            "tops_per_w": 1.0,
            "samples": 2,
            "units": 4,
            "breakdown": {
                "matmul_static": {"energy_J": 3 * energy, "time_s": latency},
                "softmax": {"energy_J": energy, "time_s": 0.0},
            },
        },
    )
    return record


RECORDS = [
    _record("gru", "cpu", 60.0, 1e-3, 2e-6),
    _record("gru", "retransformer", 59.0, 1e-4, 1e-8),
    _record("transformer", "cpu", 90.0, 2e-3, 4e-6),
    _record("transformer", "multcim", 89.0, 5e-5, 1e-9),
]


def test_speedup_and_saving_relative_to_cpu() -> None:
    ratios = {r["label"]: r for r in relative_to_cpu(RECORDS)}
    gru = ratios["scan:simple gru @ retransformer"]
    assert gru["speedup"] == pytest.approx(10.0)
    assert gru["energy_saving"] == pytest.approx(200.0)
    assert len(ratios) == 2


def test_html_page_links_its_plots_and_fetches_nothing(tmp_path: Path) -> None:
    paths = report.write_reports(RECORDS, ["md", "html"], tmp_path, stamp="2026-11-26")
    names = {p.name for p in paths}
    assert {
        "index.html",
        "translation.md",
        "translation_quality_vs_energy.svg",
        "translation_energy_breakdown.png",
        "translation_relative_to_cpu.svg",
    } <= names
    page = (tmp_path / "index.html").read_text()
    # Plots are referenced as files beside the page, not inlined (the page stays small).
    assert "<svg" not in page
    assert sorted(re.findall(r'<img src="([^"]+)"', page)) == [
        "plots/translation_energy_breakdown.svg",
        "plots/translation_quality_vs_energy.svg",
        "plots/translation_relative_to_cpu.svg",
    ]
    assert not re.search(r"(src|href)=\"https?://", page), "the page must not fetch anything"
    full = page[page.index('id="table-translation"') :]
    assert full[: full.index("</table>")].count("<tr>") == 1 + len(RECORDS)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)"
)
def test_html_renders_in_headless_chromium(tmp_path: Path) -> None:
    report.write_reports(RECORDS, ["html"], tmp_path, stamp="2026-11-26")
    page = tmp_path / "index.html"
    flags = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
    ]
    shot = tmp_path / "shot.png"
    run = subprocess.run(
        [*flags, f"--screenshot={shot}", "--window-size=1400,1800", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.is_file() and shot.stat().st_size > 10_000, run.stderr[-2000:]
    assert "Uncaught" not in run.stderr and "CONSOLE(" not in run.stderr, run.stderr[-2000:]
    # The DOM after scripts ran: count the rendered table rows.
    dom = subprocess.run(
        [*flags, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    body = dom[dom.index('id="table-translation"') :]
    body = body[: body.index("</table>")]
    assert body.count("<tr>") == 1 + len(RECORDS)
