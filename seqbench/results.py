"""Result records: schema-versioned JSON, one file per evaluation, never overwritten.

Layout: ``results/<task>/<model>/<profile>/<record-id>.json``. Reports pick the newest
record per (task, split, model, profile).
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

SCHEMA_VERSION = 1
# Older schemas we can still read, with the function that upgrades a record to the current one.
_UPGRADES: dict[int, Any] = {}

KEY_FIELDS = ("task", "split", "model", "profile")


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


def load_all(root: Path | None = None) -> list[dict[str, Any]]:
    """Every record under ``root`` (default ``$SEQBENCH_HOME/results``)."""
    root = root or paths.results_dir()
    records = []
    for path in sorted(root.rglob("*.json")) if root.is_dir() else []:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise SeqbenchError(
                f"cannot read result record {path}: {err}", "delete or fix that file"
            ) from err
        if not isinstance(raw, dict):
            raise SeqbenchError(f"result record {path} is not a JSON object", "delete that file")
        records.append(upgrade(raw, str(path)))
    return records


def newest_per_key(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest record of each (task, split, model, profile), in key order."""
    best: dict[tuple[str, ...], dict[str, Any]] = {}
    for record in records:
        key = tuple(str(record[k]) for k in KEY_FIELDS)
        if key not in best or record["timestamp"] > best[key]["timestamp"]:
            best[key] = record
    return [best[k] for k in sorted(best)]
