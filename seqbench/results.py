"""Result records: schema-versioned JSON, one file per evaluation, never overwritten.

Layout: ``results/<task>/<model>/<profile>/<record-id>.json``. Reports pick, per (task, split,
model, profile), the newest record that scored the whole split, and a partial (``--limit``)
record only where no whole one exists.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

from seqbench import __version__, paths
from seqbench.atomic import write_json
from seqbench.errors import SeqbenchError
from seqbench.progress import console

SCHEMA_VERSION = 1
# Older schemas we can still read, with the function that upgrades a record to the current one.
_UPGRADES: dict[int, Any] = {}

KEY_FIELDS = ("task", "split", "model", "profile")
# The simulated figures reports print: each a number or null.
SIMULATED_NUMBERS = (
    "latency_s_per_sample",
    "throughput_units_per_s",
    "energy_J_per_unit",
    "power_W",
    "tops_per_w",
)


@functools.lru_cache(maxsize=1)
def git_sha() -> str:
    """The repository's commit, or 'unknown' outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=paths.REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def new_record(**fields: Any) -> dict[str, Any]:
    """A record with the provenance fields every record carries, plus ``fields``."""
    record: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "seqbench_version": __version__,
        "git_sha": git_sha(),
        "timestamp": now_iso(),
    }
    record.update(fields)
    missing = [k for k in KEY_FIELDS if k not in record]
    if missing:
        raise ValueError(f"result record lacks key fields {missing}")
    return record


def record_path(record: dict[str, Any], root: Path | None = None) -> Path:
    root = root or paths.results_dir()
    for field in ("task", "model", "profile"):
        paths.check_name(record[field], field, "result record")
    stamp = re.sub(r"[^0-9T]", "", record["timestamp"].split("+")[0])
    rid = f"{stamp}-{uuid.uuid4().hex[:8]}"
    task = str(record["task"]).replace(":", "__")
    return root / task / record["model"] / record["profile"] / f"{rid}.json"


def save(record: dict[str, Any], root: Path | None = None) -> Path:
    """Write ``record`` atomically under a fresh id and return its path."""
    path = record_path(record, root)
    write_json(path, record)
    return path


def upgrade(record: dict[str, Any], where: str) -> dict[str, Any]:
    """Bring a record to the current schema, or refuse it with a clear message."""
    version = record.get("schema_version")
    if version == SCHEMA_VERSION:
        return record
    if version in _UPGRADES:
        return _UPGRADES[version](record)
    raise SeqbenchError(
        f"{where}: result schema_version {version!r} is not readable by seqbench {__version__} "
        f"(reads {sorted([SCHEMA_VERSION, *_UPGRADES])})",
        "re-run `seqbench eval` for it, or move the file out of the results folder",
    )


def check_record(record: dict[str, Any], where: str) -> dict[str, Any]:
    """Raise a one-line error unless ``record`` has the fields and types reports rely on."""

    def need(ok: bool, what: str) -> None:
        if not ok:
            raise SeqbenchError(f"{where}: {what}", "fix or delete that file")

    for name in (*KEY_FIELDS, "family"):
        need(name in record or name == "family", f"lacks {name!r}")
        if name in record:
            paths.check_name(record[name], name, where)
    need(isinstance(record.get("timestamp"), str), "timestamp is not a string")
    quality = record.get("quality")
    need(isinstance(quality, dict), "quality is not an object")
    metrics = quality.get("metrics")
    need(isinstance(metrics, dict), "quality.metrics is not an object")
    for key, value in metrics.items():
        need(_is_number(value), f"quality.metrics.{key} is {value!r}, not a number")
    need(isinstance(quality.get("primary"), str), "quality.primary is not a string")
    need(isinstance(quality.get("signature"), str), "quality.signature is not a string")
    samples = quality.get("samples")
    need(samples is None or _is_number(samples), f"quality.samples is {samples!r}")
    host = record.get("host")
    need(isinstance(host, dict), "host is not an object")
    for key in ("samples", "units", "wall_s", "units_per_s"):
        value = host.get(key)
        need(value is None or _is_number(value), f"host.{key} is {value!r}, not a number")
    simulated = record.get("simulated")
    need(isinstance(simulated, dict), "simulated is not an object")
    for key in SIMULATED_NUMBERS:
        value = simulated.get(key)
        need(value is None or _is_number(value), f"simulated.{key} is {value!r}, not a number")
    limit = record.get("limit")
    need(limit is None or (isinstance(limit, int) and limit > 0), f"limit is {limit!r}")
    return record


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def load_all(root: Path | None = None, warn: Any = None) -> list[dict[str, Any]]:
    """Every readable record under ``root`` (default ``$SEQBENCH_HOME/results``).

    A malformed file (not UTF-8, not JSON, missing or mistyped fields, an unknown schema) is
    skipped with a one-line warning naming it, so one bad file cannot block a report.
    """
    root = root or paths.results_dir()
    records = []
    for path in sorted(root.rglob("*.json")) if root.is_dir() else []:
        if path.name.startswith("."):
            continue  # a temp file of a writer in progress
        try:
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as err:  # ValueError: bad JSON or bad UTF-8
                raise SeqbenchError(
                    f"{path}: cannot read ({err})", "fix or delete that file"
                ) from err
            if not isinstance(raw, dict):
                raise SeqbenchError(f"{path}: not a JSON object", "fix or delete that file")
            records.append(check_record(upgrade(raw, str(path)), str(path)))
        except SeqbenchError as err:
            _warn(warn, f"skipped result record {err}")
    return records


def _warn(warn: Any, message: str) -> None:
    if warn is not None:
        warn(message)
        return
    console.print(f"[yellow]warning:[/] {message}", markup=True, highlight=False)


def is_whole(record: dict[str, Any]) -> bool:
    """Whether the record scored its whole split (no ``--limit``)."""
    return record.get("limit") is None


def comparable_key(record: dict[str, Any]) -> tuple[str, ...]:
    """What one report row stands for: (task, split, model, profile) and what makes scores
    comparable, the checkpoint, the data fingerprint, the preset and the decode settings."""
    checkpoint = record.get("checkpoint") or {}
    sha = checkpoint.get("sha256") if isinstance(checkpoint, dict) else None
    extra = (sha, record.get("data_fingerprint"), record.get("preset"), record.get("beam"))
    return tuple(str(record[k]) for k in KEY_FIELDS) + tuple(str(v) for v in extra)


def newest_per_key(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per :func:`comparable_key` the newest whole-split record, in key order.

    A partial (``--limit``) record stands in only where no whole-split record exists: a quick
    check never replaces a full score. Two checkpoints, data sets, presets or beam sizes are
    two rows, never one replacing the other.
    """
    best: dict[tuple[str, ...], dict[str, Any]] = {}
    for record in records:
        key = comparable_key(record)
        rank = (is_whole(record), record["timestamp"])
        if key not in best or rank > (is_whole(best[key]), best[key]["timestamp"]):
            best[key] = record
    return [best[k] for k in sorted(best)]
