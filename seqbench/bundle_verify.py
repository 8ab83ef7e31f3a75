"""Reading an untrusted model bundle: every member checked before anything is kept.

A bundle (:mod:`seqbench.bundle`) comes from elsewhere, so it is read as hostile input: an
archive member or folder entry that is a link, device or FIFO, leaves the bundle's folder, is
not listed in the manifest, or takes the bundle over the size cap is refused; the copy that
results is verified whole (manifest and config values with their keys named, every hash,
config.json's weights hash, the model built on the meta device against the weights' shapes).
Every refusal is one line naming the bundle the user passed.
"""

from __future__ import annotations

import json
import os
import stat
import tarfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Any

from seqbench import checkpoints, paths
from seqbench.data.cache import file_sha256 as sha256_file
from seqbench.errors import SeqbenchError
from seqbench.models import MODEL_REGISTRY

FORMAT = "seqbench-model/1"
MANIFEST = "seqbench-model.json"
CHECKPOINT_FILES = ("model.safetensors", "config.json", "train_log.jsonl")
MAX_MEMBERS = 64  # a bundle has a handful of files; more is not one of ours

# A manifest is a few KB; one this large is not one of ours (read before anything else).
MAX_MANIFEST_BYTES = 1 << 20
DEFAULT_MAX_BUNDLE_MB = 4096
HEX64 = frozenset("0123456789abcdef")
EXPORT_FIX = "pass the folder or archive as `seqbench export` wrote it (download or export again)"


def max_bundle_bytes() -> int:
    """The most a bundle may hold, all files together (``$SEQBENCH_MAX_BUNDLE_MB``)."""
    raw = os.environ.get("SEQBENCH_MAX_BUNDLE_MB", str(DEFAULT_MAX_BUNDLE_MB))
    if not raw.isdigit() or int(raw) < 1:
        raise SeqbenchError(
            f"SEQBENCH_MAX_BUNDLE_MB={raw!r} is not a whole number of MB >= 1",
            f"unset it (default {DEFAULT_MAX_BUNDLE_MB}) or set e.g. 8192",
        )
    return int(raw) << 20


class _Budget:
    """Counts members and bytes as they are read; one over the caps is a one-line error."""

    def __init__(self, where: str) -> None:
        self.where, self.members, self.bytes, self.cap = where, 0, 0, max_bundle_bytes()

    def member(self, name: str, size: int) -> None:
        self.members += 1
        if self.members > MAX_MEMBERS:
            raise SeqbenchError(
                f"{self.where} has more than {MAX_MEMBERS} members; a seqbench model has a handful",
                EXPORT_FIX,
            )
        self.add(name, size)

    def add(self, name: str, size: int) -> None:
        self.bytes += size
        if self.bytes > self.cap:
            raise SeqbenchError(
                f"{self.where} holds more than {self.cap >> 20} MB (at {name}), over the cap "
                "on a model bundle",
                "set SEQBENCH_MAX_BUNDLE_MB to open a bigger model you trust",
            )


def _member_name(name: str, where: str) -> str:
    """A member or manifest file name, normalised; one leaving the bundle is refused."""
    pure = PurePosixPath(name)
    if (
        not name
        or pure.is_absolute()
        or name.startswith(("/", "\\"))
        or ".." in pure.parts
        or "\\" in name
        or any(ord(c) < 32 for c in name)
    ):
        raise SeqbenchError(
            f"{where}: member {name!r} would be written outside the archive's folder",
            "refusing to extract it; " + EXPORT_FIX,
        )
    return pure.as_posix()


def bundle_kind(path: Path) -> str:
    """``"folder"`` or ``"archive"``; anything else (missing, FIFO, device) is refused now,
    before a read could block or stream without end."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise SeqbenchError(
            f"{path} does not exist", "pass a folder or .tar.gz from `export`"
        ) from None
    except OSError as err:
        raise SeqbenchError(f"{path} cannot be read ({err.strerror})", EXPORT_FIX) from err
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISREG(mode):
        return "archive"
    raise SeqbenchError(
        f"{path} is not a regular file or folder (a FIFO, socket or device)",
        "pass a folder or .tar.gz made by `seqbench export`",
    )


def _parse_manifest(data: bytes, where: str) -> dict[str, Any]:
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SeqbenchError(f"{where} has no readable {MANIFEST} ({err})", EXPORT_FIX) from err
    if not isinstance(manifest, dict):
        raise SeqbenchError(f"{where}: {MANIFEST} is not a JSON object", EXPORT_FIX)
    return manifest


def _listed(manifest: dict[str, Any], where: str) -> set[str]:
    """The member names a bundle may hold: its manifest and the files that manifest lists."""
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise SeqbenchError(f"{where}: {MANIFEST} key 'files' is not a mapping", EXPORT_FIX)
    return {MANIFEST, *(_member_name(str(n), where) for n in files)}


def _refuse_unlisted(name: str, where: str) -> SeqbenchError:
    return SeqbenchError(
        f"{where}: member {name!r} is not listed in its {MANIFEST}",
        "refusing to keep it; " + EXPORT_FIX,
    )


def extract_archive(path: Path, staged: Path, where: str) -> None:
    """Check every member (name, type, count, size) before extracting the listed ones."""
    budget = _Budget(where)
    if path.stat().st_size > budget.cap:
        budget.add(path.name, path.stat().st_size)
    try:
        with tarfile.open(path, "r:*") as archive:
            members: list[tarfile.TarInfo] = []
            for member in archive:  # headers one by one: a huge member stops the scan at once
                name = _member_name(member.name, where)
                if not (member.isfile() or member.isdir()):
                    raise SeqbenchError(
                        f"{where}: member {member.name!r} is a link or device, not a file",
                        "refusing to extract it; " + EXPORT_FIX,
                    )
                budget.member(name, member.size)
                members.append(member)
            files = {_member_name(m.name, where): m for m in members if m.isfile()}
            if MANIFEST not in files or files[MANIFEST].size > MAX_MANIFEST_BYTES:
                raise SeqbenchError(f"{where} has no readable {MANIFEST}", EXPORT_FIX)
            handle = archive.extractfile(files[MANIFEST])
            listed = _listed(_parse_manifest(handle.read() if handle else b"", where), where)
            for name in files:
                if name not in listed:
                    raise _refuse_unlisted(name, where)
            for name, member in files.items():
                archive.extract(member, staged, filter="data")
                if (staged / name).stat().st_size != member.size:
                    raise SeqbenchError(f"{where}: member {name!r} is truncated", EXPORT_FIX)
    except SeqbenchError:
        raise
    except (tarfile.TarError, EOFError, OSError, ValueError, zlib.error) as err:
        raise SeqbenchError(
            f"{where} is not a readable model archive ({type(err).__name__}: {err}); it may be "
            "truncated",
            "download or export it again (`seqbench export ... --out FILE.tar.gz`)",
        ) from err


def copy_folder(folder: Path, staged: Path, where: str) -> None:
    """Copy the listed files of a bundle folder, refusing links, devices, FIFOs and unlisted
    files exactly as :func:`_extract_archive` refuses such archive members."""
    budget = _Budget(where)
    regular: list[str] = []
    for parent, dirs, names in os.walk(folder):  # os.walk never follows links to folders
        for name in sorted([*dirs, *names]):
            full = Path(parent) / name
            relative = full.relative_to(folder).as_posix()
            mode = full.lstat().st_mode
            if stat.S_ISLNK(mode):
                raise SeqbenchError(
                    f"{where}: {relative} is a link; a bundle folder holds plain files",
                    "refusing to follow it; " + EXPORT_FIX,
                )
            if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                raise SeqbenchError(
                    f"{where}: {relative} is a device, FIFO or socket, not a file",
                    "refusing to read it; " + EXPORT_FIX,
                )
            budget.member(relative, full.lstat().st_size if stat.S_ISREG(mode) else 0)
            if stat.S_ISREG(mode):
                regular.append(relative)
    if MANIFEST not in regular:
        raise SeqbenchError(f"{where} has no readable {MANIFEST}", EXPORT_FIX)
    listed = _listed(_parse_manifest(_read_plain(folder / MANIFEST, where), where), where)
    for name in regular:
        if name not in listed:
            raise _refuse_unlisted(name, where)
    copied = _Budget(where)
    for name in regular:
        target = staged / name
        target.parent.mkdir(parents=True, exist_ok=True)
        _copy_plain(folder / name, target, where, copied)


def _open_plain(path: Path, where: str) -> int:
    """A read descriptor on ``path`` that is a regular file (no link, FIFO or device, even one
    swapped in since the folder was walked)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as err:
        raise SeqbenchError(
            f"{where}: cannot read {path.name} ({err.strerror})", EXPORT_FIX
        ) from err
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise SeqbenchError(f"{where}: {path.name} is not a regular file", EXPORT_FIX)
    return fd


def _read_plain(path: Path, where: str) -> bytes:
    fd = _open_plain(path, where)
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_MANIFEST_BYTES + 1)
    if len(data) > MAX_MANIFEST_BYTES:
        raise SeqbenchError(f"{where}: {path.name} is larger than a manifest can be", EXPORT_FIX)
    return data


def _copy_plain(src: Path, dst: Path, where: str, budget: _Budget) -> None:
    fd = _open_plain(src, where)
    with os.fdopen(fd, "rb") as reader, open(dst, "wb") as writer:
        while chunk := reader.read(1 << 20):
            budget.add(src.name, len(chunk))  # a file that grows while copied stops at the cap
            writer.write(chunk)


def _text(manifest: dict[str, Any], key: str, where: str, source: str = MANIFEST) -> str:
    value = manifest.get(key)
    if not isinstance(value, str) or not value:
        raise SeqbenchError(f"{where}: {source} key {key!r} is {value!r}, not a name", EXPORT_FIX)
    return value


def _sha(value: Any, key: str, where: str, source: str = MANIFEST) -> str:
    if not (isinstance(value, str) and len(value) == 64 and set(value) <= HEX64):
        raise SeqbenchError(
            f"{where}: {source} key {key!r} is {value!r}, not a sha256 (64 hex digits)",
            EXPORT_FIX,
        )
    return value


def _check_manifest(manifest: dict[str, Any], where: str) -> None:
    """Types of every manifest value the stages read, each a one-line error naming the key."""
    from seqbench.config import PRESETS, family_names

    if manifest.get("format") != FORMAT:
        raise SeqbenchError(
            f"{where} is format {manifest.get('format')!r}, this seqbench reads {FORMAT!r}",
            "export it again with this seqbench version",
        )
    for key in ("task", "model", "data_fingerprint"):
        _text(manifest, key, where)
    paths.check_name(manifest["task"], f"{MANIFEST} key 'task'", where)
    if manifest.get("family") not in family_names():
        raise SeqbenchError(
            f"{where}: {MANIFEST} key 'family' is {manifest.get('family')!r}",
            f"one of: {', '.join(family_names())}",
        )
    if manifest.get("preset") not in PRESETS:
        raise SeqbenchError(
            f"{where}: {MANIFEST} key 'preset' is {manifest.get('preset')!r}",
            f"one of: {', '.join(PRESETS)}",
        )
    seed = manifest.get("seed")
    if type(seed) is not int or not 0 <= seed < 2**32:
        raise SeqbenchError(
            f"{where}: {MANIFEST} key 'seed' is {seed!r}, not a whole number in [0, 2^32)",
            EXPORT_FIX,
        )
    _sha(manifest.get("weights_sha256"), "weights_sha256", where)
    for key in ("origin", "task_spec", "quality_at_export"):
        if not isinstance(manifest.get(key) or {}, dict):
            raise SeqbenchError(f"{where}: {MANIFEST} key {key!r} is not a mapping", EXPORT_FIX)
    for name, digest in manifest["files"].items():
        _sha(digest, f"files.{name}", where)
    for required in (*CHECKPOINT_FILES, "data/manifest.json"):
        if required not in manifest["files"]:
            raise SeqbenchError(f"{where}: the manifest lists no {required}", "export it again")


def _check_config(config: Any, manifest: dict[str, Any], where: str) -> None:
    """config.json agrees with the manifest on what the stages file the model under."""
    if not isinstance(config, dict):
        raise SeqbenchError(f"{where}: config.json is not a JSON object", EXPORT_FIX)
    model = config.get("model")
    if not isinstance(model, str) or model not in MODEL_REGISTRY.names():
        raise SeqbenchError(
            f"{where}: model {model!r} is not registered in this seqbench",
            f"registered models: {', '.join(MODEL_REGISTRY.names())} (see `seqbench list models`)",
        )
    _sha(config.get("weights_sha256"), "weights_sha256", where, "config.json")
    for key in ("model", "task", "preset", "seed", "data_fingerprint", "weights_sha256"):
        if config.get(key) != manifest.get(key):
            raise SeqbenchError(
                f"{where}: config.json says {key} {config.get(key)!r}, {MANIFEST} says "
                f"{manifest.get(key)!r} (altered)",
                EXPORT_FIX,
            )
    if not isinstance(config.get("model_config"), dict):
        raise SeqbenchError(f"{where}: config.json key 'model_config' is not a mapping", EXPORT_FIX)
    if config.get("complete") is not True:
        raise SeqbenchError(f"{where}: config.json does not mark a finished run", EXPORT_FIX)


def _load_json(path: Path, where: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise SeqbenchError(
            f"{where}: {path.name} is not readable JSON ({err})", EXPORT_FIX
        ) from err


def verify(folder: Path, where: str) -> dict[str, Any]:
    """The manifest of a bundle folder after checking its values, every listed file's hash,
    config.json against the manifest, and that the model is registered."""
    manifest = _parse_manifest(_read_plain(folder / MANIFEST, where), where)
    _listed(manifest, where)
    _check_manifest(manifest, where)
    for name, expected in manifest["files"].items():
        target = folder / _member_name(name, where)
        if not target.is_file() or target.is_symlink():
            raise SeqbenchError(f"{where}: {name} is missing", "download or export it again")
        actual = sha256_file(target)
        if actual != expected:
            raise SeqbenchError(
                f"{where}: {name} has sha256 {actual[:12]}, its manifest says {expected[:12]} "
                "(corrupt or altered)",
                "download or export it again",
            )
    if manifest["files"]["model.safetensors"] != manifest["weights_sha256"]:
        raise SeqbenchError(f"{where}: the weights hash disagrees with weights_sha256", EXPORT_FIX)
    _check_config(_load_json(folder / "config.json", where), manifest, where)
    if not isinstance(_load_json(folder / "data" / "manifest.json", where), dict):
        raise SeqbenchError(f"{where}: data/manifest.json is not a JSON object", EXPORT_FIX)
    return manifest


def check_model(folder: Path, where: str) -> None:
    """The model builds from config.json (on the meta device) and the weights fit it."""
    info = _load_json(folder / "config.json", where)
    checkpoints.check_loadable(checkpoints.Checkpoint(folder, info), where, EXPORT_FIX)
