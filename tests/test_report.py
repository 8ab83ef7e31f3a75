"""Result records and leaderboard tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqbench import report, results
from seqbench.errors import SeqbenchError
from seqbench.report import tables
from seqbench.report.tables import best_marks


def _record(
    model: str, profile: str, em: float, stamp: str, energy: float = 1e-6, **fields: object
) -> dict:
    record = results.new_record(
        task="scan:simple",
        family="translation",
        split="test",
        model=model,
        profile=profile,
        preset="tiny",
        beam=1,
        data_fingerprint="d0d0d0d0d0d0d0d0",
        checkpoint={
            "sha256": f"{model:0<12}"[:12] + "ffff",
            "parameters": 1234567 if model == "transformer" else 890,
            "train_seconds": 61.4,
        },
        quality={
            "metrics": {"exact_match": em, "bleu": em / 2},
            "primary": "exact_match",
            "signature": "nrefs:1|tok:13a",
        },
        host={"units_per_s": 1000.0, "unit": "token", "threads": 2, "samples": 100},
        simulated={
            "latency_s_per_sample": 2e-3,
            "throughput_units_per_s": 500.0,
            "energy_J_per_unit": energy,
            "power_W": 0.5,
            "tops_per_w": 3.0,
            "energy_J_per_sample": energy * 10,
            "host_fallback": {},
        },
        trace={"ops": {"matmul_static": {}, "softmax": {}}},
    )
    record["timestamp"] = stamp
    record.update(fields)
    return record


def test_newest_record_per_key_wins() -> None:
    old = _record("gru", "cpu", 10.0, "2026-01-01T00:00:00.000+00:00")
    new = _record("gru", "cpu", 20.0, "2026-02-01T00:00:00.000+00:00")
    other = _record("gru", "ice", 30.0, "2025-01-01T00:00:00.000+00:00")
    chosen = results.newest_per_key([new, old, other])
    assert [(r["profile"], r["quality"]["metrics"]["exact_match"]) for r in chosen] == [
        ("cpu", 20.0),
        ("ice", 30.0),
    ]


def test_records_are_saved_atomically_and_never_overwritten(tmp_path: Path) -> None:
    record = _record("gru", "cpu", 10.0, "2026-01-01T00:00:00.000+00:00")
    a = results.save(record, tmp_path)
    b = results.save(record, tmp_path)
    assert a != b and a.exists() and b.exists()
    assert not list(tmp_path.rglob("*.tmp"))
    assert len(results.load_all(tmp_path)) == 2


def test_older_schema_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "scan" / "gru" / "cpu" / "x.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"schema_version": 0, "task": "scan"}))
    # Skipped with a warning naming the file: one old record does not block a report.
    warnings: list[str] = []
    assert results.load_all(tmp_path, warn=warnings.append) == []
    assert "schema_version 0 is not readable" in warnings[0] and str(path) in warnings[0]


def test_corrupt_record_is_a_clear_warning(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{half")
    warnings: list[str] = []
    assert results.load_all(tmp_path, warn=warnings.append) == []
    assert "cannot read" in warnings[0] and "bad.json" in warnings[0]


GOLDEN_MD = """\
# translation leaderboard

seqbench 0.1.0 · git abc123 · generated 2026-11-26T00:00:00

## Summary

One row per task, split, model and checkpoint: quality once (the primary metric on the `cpu` row, which runs no effects, on n examples), then per profile the simulated latency per sample and energy per token, each with `cpu`'s figure divided by the profile's (×10: ten times faster, or a tenth of the energy; s, ms, µs and J, mJ, µJ, nJ as the size needs). Quality under each profile's effects is in the full table below.

| task · split | model · checkpoint | n | quality | cpu |
|---|---|---|---|---|
| scan:simple · test | gru · gru000000000 | 100 | exact_match 50.00 | 2 ms<br>500 nJ |
| scan:simple · test | transformer · transformer0 | 100 | exact_match 99.00 | 2 ms<br>2 µJ |

## Host throughput (measured)

Wall clock of the host's own evaluation, once per checkpoint and split (from the `cpu` row's record), with the machine that measured it.

| task · split | model · checkpoint | n | host tokens/s | measured on |
|---|---|---|---|---|
| scan:simple · test | gru · gru000000000 | 100 | 1,000.0 | unknown CPU, 2 torch threads |
| scan:simple · test | transformer · transformer0 | 100 | 1,000.0 | unknown CPU, 2 torch threads |

## Every profile (2 rows)

| task | split | n | model | profile | checkpoint | params | train s | data | preset | beam | exact_match | bleu | on chip % | latency ms/sample | sim tokens/s | µJ/token | power W | TOPS/W |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
| scan:simple | test | 100 | gru | cpu | gru000000000 | 890 | 61 | d0d0d0d0 | tiny | 1 | 50.00 | 25.00 | 100 | 2 | 500 | **0.5** | 0.5 | 3 |
| scan:simple | test | 100 | transformer | cpu | transformer0 | 1,234,567 | 61 | d0d0d0d0 | tiny | 1 | **99.00** | **49.50** | 100 | 2 | 500 | 2 | 0.5 | 3 |

Best value per ranked column in **bold**, only among comparable rows (same task, split, data, preset, beam and n). `n`: examples scored. `on chip %`: share of the simulated energy spent on the profile's own hardware; `none` rows run every op on the host and show no cost. Latency, simulated throughput, energy, power and TOPS/W come from the per-operator simulator on the named profile (`seqbench accels show PROFILE`); the measured host throughput is in the host table above.

"""


def test_host_machine_names_the_accelerator_a_model_ran_on() -> None:
    host = {"cpu_model": "Xeon", "cpu_count": 16, "threads": 1}
    assert tables.machine_text(host | {"device": "cpu"}) == "Xeon, 16 cores, 1 torch thread"
    assert tables.machine_text(host) == "Xeon, 16 cores, 1 torch thread"  # older records
    assert (
        tables.machine_text(host | {"device": "cuda (NVIDIA H100 80GB HBM3)"})
        == "cuda (NVIDIA H100 80GB HBM3) on Xeon, 16 cores, 1 torch thread"
    )


def test_golden_markdown() -> None:
    records = [
        _record("transformer", "cpu", 99.0, "2026-01-01T00:00:00.000+00:00", energy=2e-6),
        _record("gru", "cpu", 50.0, "2026-01-01T00:00:00.000+00:00", energy=0.5e-6),
    ]
    (table,) = report.build_tables(records)
    text = report.render_markdown(table, "2026-11-26T00:00:00", "abc123")
    assert text.startswith(GOLDEN_MD)


def test_rows_keep_checkpoints_apart_and_best_only_among_comparable_rows() -> None:
    stamp = "2026-01-01T00:00:00.000+00:00"
    greedy = _record("transformer", "cpu", 60.0, stamp)
    beam4 = _record("transformer", "cpu", 70.0, stamp, beam=4)
    other_data = _record("gru", "cpu", 90.0, stamp, data_fingerprint="e1e1e1e1e1e1e1e1")
    retrained = _record("gru", "cpu", 40.0, stamp)
    retrained["checkpoint"] = {"sha256": "ab" * 32}
    plain_gru = _record("gru", "cpu", 50.0, stamp)
    # Each is its own row: none replaces another.
    assert len(results.newest_per_key([greedy, beam4, other_data, retrained, plain_gru])) == 5
    (table,) = report.build_tables([greedy, beam4, other_data, retrained, plain_gru])
    marks = best_marks(table.columns, table.rows)
    em = [c.header for c in table.columns].index("exact_match")
    best = sorted(
        (
            table.rows[i]["model"],
            table.rows[i]["beam"],
            table.rows[i]["exact_match"],
        )
        for i, c in marks
        if c == em
    )
    # beam 4 and the other data set are alone in their groups: nothing to beat, no mark;
    # among greedy rows on d0d0 data the transformer's 60 beats the gru's 50 and 40.
    assert best == [("transformer", 1, 60.0)]


def test_a_profile_that_runs_nothing_says_so_instead_of_copying_the_host() -> None:
    stamp = "2026-01-01T00:00:00.000+00:00"
    host = _record("transformer", "cpu", 60.0, stamp)
    ice = _record("transformer", "ice", 60.0, stamp)
    ice["simulated"]["host_fallback"] = {"matmul_static": {"energy_J": 1e-5}, "softmax": {}}
    ice["simulated"]["notes"] = ["ran on the host (cpu): matmul_static, softmax"]
    (table,) = report.build_tables([host, ice])
    cells = dict(zip([c.header for c in table.columns], table.cells()[1], strict=True))
    assert table.rows[1]["profile"] == "ice"
    assert cells["on chip %"] == "none: all on cpu"
    assert cells["µJ/token"] == "—" and cells["latency ms/sample"] == "—"
    assert (
        dict(zip([c.header for c in table.columns], table.cells()[0], strict=True))["µJ/token"]
        == "1"
    )
    # the table `seqbench eval` prints says the same, not the host's figures again
    from rich.console import Console

    from seqbench.cli.tables import eval_table

    console = Console(width=200, record=True)
    console.print(eval_table([host, ice]))
    ice_line = next(line for line in console.export_text().splitlines() if "│ ice" in line)
    assert "none: all on cpu" in ice_line and ice_line.split("none")[1].count("—") == 4
    # nor its prefill/decode phase columns (a language model's records)
    phases = {
        phase: {"throughput_units_per_s": 10.0, "energy_J_per_unit": 1e-6}
        for phase in ("prefill", "decode")
    }
    for record in (host, ice):
        record["simulated"]["phases"] = phases
    (table,) = report.build_tables([host, ice])
    headers = [c.header for c in table.columns]
    ice_cells = dict(zip(headers, table.cells()[1], strict=True))
    host_cells = dict(zip(headers, table.cells()[0], strict=True))
    assert ice_cells["sim gen tokens/s"] == "—" and host_cells["sim gen tokens/s"] == "10"


def test_write_reports_all_formats(tmp_path: Path) -> None:
    records = [_record("gru", "cpu", 50.0, "2026-01-01T00:00:00.000+00:00")]
    paths = report.write_reports(records, ["md", "csv", "json"], tmp_path, plots=False)
    assert sorted(p.name for p in paths) == [
        "translation.csv",
        "translation.json",
        "translation.md",
    ]
    payload = json.loads((tmp_path / "translation.json").read_text())
    assert payload["rows"][0]["exact_match"] == 50.0
    with pytest.raises(SeqbenchError, match="no result records"):
        report.write_reports([], ["md"], tmp_path)


def gallery_workload(
    vectors: int, name: str, simulated: dict, gallery_in: str | None = None
) -> dict:
    """One gallery size of a faces record's ``workloads`` (16 probes, all found); without
    ``gallery_in`` as published before where the gallery lives was recorded."""
    return {
        "name": name,
        "vectors": vectors,
        "dim": 128,
        "bytes_int8": 128 * vectors,
        "queries": 16,
        "host_searches_per_s": 66.9,
        "rank1": 1.0,
        "simulated": simulated,
        **({"gallery_in": gallery_in} if gallery_in else {}),
    }


def test_the_gallery_scaling_rows_are_a_table_on_the_board() -> None:
    from seqbench.report.formats import render_markdown

    stamp = "2026-01-01T00:00:00.000+00:00"
    rows = []
    for profile, rate, where in (("cpu", 400.0, "DRAM"), ("ice", 2.5, "NAND, in place")):
        record = _record("face-embed", profile, 90.0, stamp)
        record["workloads"] = [
            gallery_workload(
                1_000_000,
                "1M",
                {"throughput_units_per_s": rate, "energy_J_per_unit": 5e-4},
                gallery_in=where,
            ),
            {"name": "CASIA", "vectors": 15_625_000, "skipped": True, "why": "over max_vectors"},
        ]
        rows.append(record)
    (table,) = report.build_tables(rows)
    text = render_markdown(table, stamp, "abc")
    assert "## Gallery search by size" in text
    assert "| 1M | 1,000,000 | 128 | 16 | 66.9 | 100.0 | cpu | DRAM | 400 | 500 |" in text
    assert "| 1M | 1,000,000 | 128 | 16 | 66.9 | 100.0 | ice | NAND, in place | 2.5 | 500 |" in text
    assert "| CASIA | 15,625,000 | skipped (over max_vectors) |" in text
    # a board without workloads gets no such section
    (plain,) = report.build_tables([_record("gru", "cpu", 50.0, stamp)])
    assert "Gallery search" not in render_markdown(plain, stamp, "abc")
