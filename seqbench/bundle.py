"""Portable models: a trained checkpoint as a self-contained folder or ``.tar.gz``.

A bundle holds everything needed to run the model again on another machine::

    seqbench-model.json   format, seqbench version, task, model, preset, seed, data fingerprint,
                          the task spec, origin, quality at export, and a sha256 per file
    model.safetensors     the weights
    config.json           the checkpoint's own record (model config, train options, best dev)
    train_log.jsonl       one row per epoch
    data/manifest.json    the prepared data's manifest (answer list, image size, normalisation..)
    data/*.model          the SentencePiece models the model was trained with
    README.md             a generated model card

Opening one (:func:`open_bundle`) copies the listed files into scratch (an archive is checked
member by member, a folder file by file: no links, devices, FIFOs or unlisted files, a size
cap), verifies that copy whole (hashes, manifest and config values, the model built from its
config on the meta device against the weights' shapes) and only then keeps it under
``$SEQBENCH_HOME/models/<manifest sha256[:16]>/``, where its traces are cached.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tarfile
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from seqbench import __version__, checkpoints, locks, paths
from seqbench.atomic import write_json, write_text
from seqbench.data.cache import file_sha256 as sha256_file
from seqbench.errors import SeqbenchError
from seqbench.models import MODEL_REGISTRY

FORMAT = "seqbench-model/1"
MANIFEST = "seqbench-model.json"
CHECKPOINT_FILES = ("model.safetensors", "config.json", "train_log.jsonl")
DATA_SUFFIXES = (".model",)  # prepared-data files that belong to the model (tokenizers)
MAX_MEMBERS = 64  # a bundle has a handful of files; more is not one of ours
ARCHIVE_SUFFIX = ".tar.gz"


@dataclass
class Bundle:
    """A verified bundle folder and its manifest."""

    directory: Path
    manifest: dict[str, Any]
    source: str  # the path the user gave

    @property
    def checkpoint(self) -> checkpoints.Checkpoint:
        info = json.loads((self.directory / "config.json").read_text(encoding="utf-8"))
        info["origin"] = self.origin
        return checkpoints.Checkpoint(self.directory, info)

    @property
    def origin(self) -> dict[str, Any]:
        return {**self.manifest.get("origin", {}), "bundle": self.source}

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def data_manifest(self) -> dict[str, Any]:
        return json.loads((self.data_dir / "manifest.json").read_text(encoding="utf-8"))

    @property
    def task(self) -> str:
        return str(self.manifest["task"])


# --- export -------------------------------------------------------------------------------


def model_card(manifest: dict[str, Any]) -> str:
    """A short Markdown model card from the bundle manifest."""
    quality = manifest.get("quality_at_export") or {}
    metrics = quality.get("metrics", {})
    lines = [
        f"# {manifest['model']} on {manifest['task']} ({manifest['preset']}, seed "
        f"{manifest['seed']})",
        "",
        f"Exported by seqbench {manifest['seqbench_version']} on {manifest['exported']}.",
        "",
        f"- Family: {manifest['family']}; parameters: {manifest.get('parameters') or '?'}",
        f"- Weights sha256: `{manifest['weights_sha256']}`",
        f"- Trained on prepared data `{manifest['data_fingerprint']}` "
        f"({manifest.get('data_source', '?')}), {manifest.get('epochs_run', '?')} epochs, "
        f"{manifest.get('train_seconds', '?')} s; best dev {manifest.get('best_dev')}",
        f"- Quality at export on `{quality.get('split', 'test')}` (n = {quality.get('samples')}): "
        + ", ".join(f"{k} {v:.2f}" for k, v in metrics.items()),
        f"- Quality signature: `{quality.get('signature', '')}`",
        "",
        "Use it:",
        "",
        "```bash",
        "seqbench eval --checkpoint THIS_PATH --accel all      # score and price it here",
        "seqbench import THIS_PATH                             # make it this home's checkpoint",
        "```",
        "",
    ]
    return "\n".join(lines)


def check_out(out: Path) -> None:
    """``out`` is free and its nearest existing parent is a folder (a one-line error if not)."""
    if out.exists() or out.is_symlink():
        raise SeqbenchError(f"{out} exists", "choose another --out or delete it first")
    parent = next((p for p in out.absolute().parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise SeqbenchError(
            f"--out {out}: {parent} is a file, not a folder",
            "choose an --out path inside a folder",
        )


def _copy(src: Path, staging: Path, name: str, files: dict[str, str]) -> None:
    dst = staging / name
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    files[name] = sha256_file(dst)


def write_bundle(
    out: Path,
    checkpoint: checkpoints.Checkpoint,
    data_dir: Path,
    data_manifest: dict[str, Any],
    task_spec: dict[str, Any],
    family: str,
    quality: dict[str, Any],
) -> Path:
    """Write the bundle to ``out`` (a folder, or an archive when it ends in ``.tar.gz``)."""
    check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        files: dict[str, str] = {}
        for name in CHECKPOINT_FILES:
            _copy(checkpoint.directory / name, staging, name, files)
        write_json(staging / "data" / "manifest.json", data_manifest)
        files["data/manifest.json"] = sha256_file(staging / "data" / "manifest.json")
        for path in sorted(data_dir.iterdir()):
            if path.suffix in DATA_SUFFIXES:
                _copy(path, staging, f"data/{path.name}", files)
        info = checkpoint.info
        manifest = {
            "format": FORMAT,
            "seqbench_version": __version__,
            "exported": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "task": info["task"],
            "family": family,
            "model": checkpoint.model_name,
            "preset": info["preset"],
            "seed": info["seed"],
            "data_fingerprint": info["data_fingerprint"],
            "data_source": data_manifest.get("source"),
            "weights_sha256": checkpoint.sha256,
            "parameters": info.get("parameters"),
            "epochs_run": info.get("epochs_run"),
            "train_seconds": info.get("train_seconds"),
            "best_dev": info.get("best_dev"),
            "origin": info.get("origin")
            or {"home": str(paths.home()), "run": str(checkpoint.directory)},
            "task_spec": task_spec,
            "quality_at_export": quality,
            "files": files,
        }
        write_text(staging / "README.md", model_card(manifest))
        manifest["files"]["README.md"] = sha256_file(staging / "README.md")
        write_json(staging / MANIFEST, manifest)
        if out.name.endswith(ARCHIVE_SUFFIX):
            tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
            with tarfile.open(tmp, "w:gz") as archive:
                for path in sorted(staging.rglob("*")):
                    if path.is_file():
                        archive.add(path, arcname=path.relative_to(staging).as_posix())
            tmp.replace(out)
            shutil.rmtree(staging)
        else:
            staging.replace(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


# --- open (verify, materialise) -----------------------------------------------------------

# A manifest is a few KB; one this large is not one of ours (read before anything else).
MAX_MANIFEST_BYTES = 1 << 20
DEFAULT_MAX_BUNDLE_MB = 4096
SCRATCH_PREFIX = ".open-"
HEX64 = frozenset("0123456789abcdef")
EXPORT_FIX = "pass the folder or archive as `seqbench export` wrote it (download or export again)"


def models_dir() -> Path:
    """Verified copies of bundles opened in this home."""
    return paths.home() / "models"


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


def _kind(path: Path) -> str:
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


def _extract_archive(path: Path, staged: Path, where: str) -> None:
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


def _copy_folder(folder: Path, staged: Path, where: str) -> None:
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


def _verify(folder: Path, where: str) -> dict[str, Any]:
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


def _check_model(folder: Path, where: str) -> None:
    """The model builds from config.json (on the meta device) and the weights fit it."""
    info = _load_json(folder / "config.json", where)
    checkpoints.check_loadable(checkpoints.Checkpoint(folder, info), where, EXPORT_FIX)


def _cache_key(folder: Path) -> str:
    """The copy's folder name: the manifest's hash, which covers every file verified."""
    return sha256_file(folder / MANIFEST)[:16]


def _scratch(root: Path) -> Path:
    """A pid-tagged scratch folder (so `cache clean` and every start remove a dead one's)."""
    return Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{_temp_tag()}", suffix=".tmp", dir=root))


def _temp_tag() -> str:
    from seqbench.atomic import HOST_TAG

    return f"bundle.tmp{os.getpid()}h{HOST_TAG}-"


# Scratch of an older seqbench (``.open-XXXX``, no pid in the name) is stale when this old.
LEGACY_SCRATCH_AGE_S = 3600


def remove_stale_scratch() -> list[Path]:
    """Scratch folders under ``models/`` whose opening process is gone: removed, returned."""
    from seqbench.atomic import TEMP_NAME, remove_stale_temps

    root = models_dir()
    removed = remove_stale_temps(root) if root.is_dir() else []
    for path in sorted(root.glob(f"{SCRATCH_PREFIX}*")) if root.is_dir() else []:
        if TEMP_NAME.match(path.name) or not path.is_dir() or path.is_symlink():
            continue
        if time.time() - path.lstat().st_mtime > LEGACY_SCRATCH_AGE_S:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def open_bundle(path: Path) -> Bundle:
    """Verify the bundle at ``path`` whole and return its copy under ``models/``.

    The bundle is copied (listed files only) into a scratch folder, and that copy is what is
    verified and kept: hashes, manifest and config values, and the model built from its config
    with the weights' shapes. Only then is it renamed to ``models/<manifest sha256[:16]>``
    (under a lock), so a failure leaves nothing there and a copy is never shared by two
    bundles that differ in any file.
    """
    path = Path(path).expanduser()
    where = str(path)
    kind = _kind(path)
    root = models_dir()
    root.mkdir(parents=True, exist_ok=True)
    scratch = _scratch(root)
    try:
        staged = scratch / "copy"
        staged.mkdir()
        if kind == "folder":
            _copy_folder(path, staged, where)
        else:
            _extract_archive(path, staged, where)
        manifest = _verify(staged, where)
        _check_model(staged, where)
        target = root / _cache_key(staged)
        with locks.hold(target, f"model copy {target}"):
            if (target / MANIFEST).is_file():
                try:
                    if _verify(target, where) == manifest:
                        return Bundle(target, manifest, where)
                except SeqbenchError:
                    pass  # a damaged copy: replaced by the one just verified
                os.replace(target, scratch / "old")
            os.replace(staged, target)  # atomic: a half-made copy is never seen under models/
        return Bundle(target, manifest, where)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def differing_tokenizers(a: Path, b: Path) -> list[str]:
    """Names of tokenizer files that differ (or exist once) between the folders ``a``, ``b``."""
    names = {p.name for d in (a, b) for p in d.iterdir() if p.suffix in DATA_SUFFIXES}

    def same(name: str) -> bool:
        x, y = a / name, b / name
        return x.is_file() and y.is_file() and sha256_file(x) == sha256_file(y)

    return sorted(n for n in names if not same(n))
