"""What a board opens with (summary within 12 columns, host throughput once, n everywhere,
subset rows beside the host on the same subset), the gallery's "none" rows, the committed
boards as `report --boards` renders them, and the HTML page in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from rich.console import Console

from seqbench import paths, report
from seqbench.cli.tables import eval_table, workloads_table
from seqbench.report.formats import render_markdown
from seqbench.report.summary import MAX_COLUMNS, summary_grids
from tests.test_report import _record, gallery_workload

STAMP = "2026-01-01T00:00:00.000+00:00"
BOARDS = paths.REPO_ROOT / "leaderboards"
PROFILES = [
    "cpu",
    "edge-cpu",
    "gtx-1080",
    "ice",
    "isaac",
    "multcim",
    "pipelayer",
    "retransformer",
    "titan-rtx",
]


def _board(profiles: list[str]) -> list[dict]:
    records = []
    for model in ("gru", "transformer"):
        for i, profile in enumerate(profiles):
            records.append(_record(model, profile, 90.0, STAMP, energy=1e-6 / (i + 1)))
    return records


def _summary_tables(markdown: str) -> list[list[str]]:
    """The header row of each table under ``## Summary``."""
    part = markdown.split("## Summary", 1)[1].split("\n## ", 1)[0]
    return [
        [c.strip() for c in line.strip().strip("|").split("|")]
        for i, line in enumerate(part.splitlines())
        if line.startswith("| ") and not part.splitlines()[i - 1].startswith("|")
    ]


def test_summary_keeps_to_twelve_columns_however_many_profiles() -> None:
    for count in (1, 8, 9, 17):
        names = (
            (PROFILES * 2)[:count]
            if count <= 9
            else [f"p{i:02d}" for i in range(count - 1)] + ["cpu"]
        )
        (table,) = report.build_tables(_board(sorted(set(names))))
        grids = summary_grids(table)
        assert all(len(headers) <= MAX_COLUMNS for headers, _ in grids)
        shown = [h for headers, _ in grids for h in headers[4:]]
        assert sorted(shown) == sorted(set(names)) and shown[0] == "cpu"
        for headers in _summary_tables(render_markdown(table, STAMP, "abc")):
            assert len(headers) <= MAX_COLUMNS


def test_summary_gives_quality_once_and_each_profile_against_cpu() -> None:
    (table,) = report.build_tables(_board(["cpu", "multcim"]))
    text = render_markdown(table, STAMP, "abc")
    # cpu: 2 ms per sample and 1 µJ per token; multcim: the same latency, half the energy.
    assert (
        "| scan:simple · test | gru · gru000000000 | 100 | exact_match 90.00 | 2 ms<br>1 µJ | 2 ms ×1<br>500 nJ ×2 |"
        in text
    )
    # host throughput once per checkpoint and split, with the machine
    host = text.split("## Host throughput", 1)[1].split("## Every profile")[0]
    assert host.count("gru · gru000000000") == 1 and "2 torch threads" in host


def _subset_records() -> list[dict]:
    host = _record("rnn", "cpu", 66.64, STAMP)
    host["quality"]["samples"] = 4182
    host["quality_host"] = host["quality"]
    effects = _record("rnn", "pipelayer", 76.67, STAMP)
    effects["quality"]["samples"] = 300
    effects["quality_host"] = host["quality"]
    effects["quality_host_same_n"] = {
        "metrics": {"exact_match": 76.33, "bleu": 38.0},
        "primary": "exact_match",
        "samples": 300,
    }
    return [host, effects]


def test_a_subset_row_stands_beside_the_host_on_the_same_subset() -> None:
    records = _subset_records()
    (table,) = report.build_tables(records)
    text = render_markdown(table, STAMP, "abc")
    full = text.split("## Every profile", 1)[1]
    header = next(line for line in full.splitlines() if line.startswith("| task"))
    cells = [c.strip() for c in header.strip("|").split("|")]
    row = next(line for line in full.splitlines() if "| pipelayer |" in line)
    values = dict(zip(cells, [c.strip() for c in row.strip("|").split("|")], strict=True))
    assert values["n"] == "300" and values["exact_match"] == "76.67"
    assert values["host, same n"] == "76.33"
    cpu = next(line for line in full.splitlines() if "| cpu |" in line)
    assert "| 4,182 |" in cpu and "66.64" in cpu
    # eval's and run's table: n, and the host on the same examples, whole split in the caption
    console = Console(width=250, record=True)
    console.print(eval_table(records))
    out = console.export_text()
    line = next(x for x in out.splitlines() if "│ pipelayer" in x)
    assert re.search(r"│\s+300\s+│\s+76\.67\s+│\s+76\.33\s+│", line)
    assert "first 300 of 4,182" in out and "66.64 exact_match" in out


def test_gallery_rows_of_a_profile_that_runs_none_of_the_search_say_so() -> None:
    records = []
    for profile, fallback in (
        ("cpu", {}),
        ("ice", {}),
        ("multcim", {"similarity_search": {"energy_J": 8e-5}}),
    ):
        record = _record("face-embed", profile, 90.0, STAMP)
        simulated = {
            "throughput_units_per_s": 3.5e6,
            "energy_J_per_unit": 8e-5,
            "energy_J_per_sample": 8e-5,
            "host_fallback": fallback,
            "notes": ["ran on the host (cpu): similarity_search"] if fallback else [],
        }
        record["workloads"] = [gallery_workload(1000, "1K", simulated)]
        records.append(record)
    (table,) = report.build_tables(records)
    text = render_markdown(table, STAMP, "abc")
    # rows published before where the gallery lives was recorded: `gallery in` reads —
    assert "| multcim | — | none: all on cpu | — |" in text
    assert "| cpu | — | 3.5e+06 | 80 |" in text and "| ice | — | 3.5e+06 | 80 |" in text
    console = Console(width=300, record=True)
    console.print(workloads_table(records))
    assert "none: all on cpu" in console.export_text()


def test_committed_boards_are_what_report_boards_renders(tmp_path: Path) -> None:
    out = tmp_path / "boards"
    shutil.copytree(BOARDS, out)
    report.rerender_boards(BOARDS, ["md", "csv", "json", "html"], out)
    stamp = re.compile(r"(generated |\"generated\": \")[0-9T:.+-]+")
    for path in sorted(BOARDS.glob("*.*")):
        if path.suffix in (".md", ".csv", ".json", ".html"):
            committed = stamp.sub("", path.read_text(encoding="utf-8"))
            again = stamp.sub("", (out / path.name).read_text(encoding="utf-8"))
            committed = re.sub(r"git [0-9a-f]{12}|\"git_sha\": \"[0-9a-f]+\"", "", committed)
            again = re.sub(r"git [0-9a-f]{12}|\"git_sha\": \"[0-9a-f]+\"", "", again)
            assert committed == again, f"{path.name} differs from `report --boards`"


def test_committed_boards_open_with_a_narrow_summary_and_a_small_page() -> None:
    for path in sorted(BOARDS.glob("*.md")):
        tables = _summary_tables(path.read_text(encoding="utf-8"))
        assert tables, f"{path.name} has no summary table"
        assert all(len(h) <= MAX_COLUMNS for h in tables), path.name
    page = (BOARDS / "index.html").read_text(encoding="utf-8")
    assert (BOARDS / "index.html").stat().st_size < 1_000_000
    assert "<svg" not in page  # plots are referenced as files
    for src in re.findall(r'<img src="([^"]+)"', page):
        assert (BOARDS / src).is_file(), src
    for family in json.loads((BOARDS / "faces.json").read_text())["rows"]:
        assert "workloads" in family


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Appended to a copy of the page: the viewport width and each summary table's right edge.
PROBE = (
    "<script>document.title=JSON.stringify({w:document.documentElement.clientWidth,"
    't:[...document.querySelectorAll("table.summary")].map(t=>'
    "Math.ceil(t.getBoundingClientRect().right))});</script>"
)


def _widths(page: Path) -> dict:
    probe = page.with_name("probe.html")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"))
    dom = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1400,1000",
            "--dump-dom",
            probe.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    return json.loads(re.search(r"<title>(.*?)</title>", dom).group(1).replace("&quot;", '"'))


@pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium is not installed (.ci/run installs it)"
)
def test_summary_tables_fit_a_1400px_window_in_chromium(tmp_path: Path) -> None:
    shutil.copytree(BOARDS, tmp_path / "committed")
    report.write_reports(_board(PROFILES), ["html"], tmp_path / "nine", plots=False)
    for page in (tmp_path / "committed" / "index.html", tmp_path / "nine" / "index.html"):
        found = _widths(page)
        assert found["t"], f"{page}: no summary table rendered"
        assert found["w"] <= 1400 and max(found["t"]) <= found["w"], (page, found)


def test_the_page_names_each_boards_provenance(tmp_path: Path) -> None:
    """Boards published at different times: the page says which came from which run."""
    out = tmp_path / "boards"
    shutil.copytree(BOARDS, out)
    vqa = json.loads((out / "vqa.json").read_text())
    vqa["rendered_from"] = {"generated": "2030-01-01T00:00:00+00:00", "git_sha": "0" * 12}
    (out / "vqa.json").write_text(json.dumps(vqa))
    report.rerender_boards(out, ["html"], out)
    page = (out / "index.html").read_text(encoding="utf-8")
    lines = re.findall(r"<p>([a-z, ]+): Rendered again[^<]*published on ([0-9T:.+-]+)", page)
    assert ("vqa", "2030-01-01T00:00:00+00:00") in lines
    others = [families for families, when in lines if when != "2030-01-01T00:00:00+00:00"]
    named = [family for families in others for family in families.split(", ")]
    assert "vqa" not in named and "translation" in named and len(named) == len(set(named))
    # one line for several boards reads "each board's", a board's own line "this board's"
    whose = dict(re.findall(r"<p>([a-z, ]+): Rendered again from the rows of ([a-z]+ board)", page))
    assert whose["vqa"] == "this board"
    for families in others:
        assert whose[families] == ("each board" if ", " in families else "this board")
