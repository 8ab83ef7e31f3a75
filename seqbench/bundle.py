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
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqbench import __version__, checkpoints, locks, paths
from seqbench.atomic import write_json, write_text
from seqbench.bundle_verify import (
    CHECKPOINT_FILES,
    FORMAT,
    MANIFEST,
    bundle_kind,
    check_model,
    copy_folder,
    extract_archive,
    sha256_file,
    verify,
)
from seqbench.errors import SeqbenchError

DATA_SUFFIXES = (".model",)  # prepared-data files that belong to the model (tokenizers)
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

SCRATCH_PREFIX = ".open-"


def models_dir() -> Path:
    """Verified copies of bundles opened in this home."""
    return paths.home() / "models"


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


# Copies under models/ that open_bundle made in this process (see removed_on_failure).
_MADE: list[Path] = []


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
    kind = bundle_kind(path)
    root = models_dir()
    root.mkdir(parents=True, exist_ok=True)
    scratch = _scratch(root)
    try:
        staged = scratch / "copy"
        staged.mkdir()
        if kind == "folder":
            copy_folder(path, staged, where)
        else:
            extract_archive(path, staged, where)
        manifest = verify(staged, where)
        check_model(staged, where)
        target = root / _cache_key(staged)
        with locks.hold(target, f"model copy {target}"):
            if (target / MANIFEST).is_file():
                try:
                    if verify(target, where) == manifest:
                        return Bundle(target, manifest, where)
                except SeqbenchError:
                    pass  # a damaged copy: replaced by the one just verified
                os.replace(target, scratch / "old")
            os.replace(staged, target)  # atomic: a half-made copy is never seen under models/
            _MADE.append(target)
        return Bundle(target, manifest, where)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@contextmanager
def removed_on_failure() -> Iterator[None]:
    """Copies :func:`open_bundle` makes inside the ``with`` block are removed again when the
    block fails (the data does not fit, the model fails when run): a failure leaves nothing
    under ``models/``."""
    mark = len(_MADE)
    try:
        yield
    except BaseException:
        for directory in _MADE[mark:]:
            with locks.hold(directory, f"model copy {directory}"):
                aside = _scratch(models_dir())
                try:
                    os.replace(directory, aside / "gone")
                except OSError:
                    pass
                shutil.rmtree(aside, ignore_errors=True)
        raise
    finally:
        del _MADE[mark:]


def differing_tokenizers(a: Path, b: Path) -> list[str]:
    """Names of tokenizer files that differ (or exist once) between the folders ``a``, ``b``."""
    names = {p.name for d in (a, b) for p in d.iterdir() if p.suffix in DATA_SUFFIXES}

    def same(name: str) -> bool:
        x, y = a / name, b / name
        return x.is_file() and y.is_file() and sha256_file(x) == sha256_file(y)

    return sorted(n for n in names if not same(n))
