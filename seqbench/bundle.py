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

Opening one (:func:`open_bundle`) verifies every file's hash and that the model is registered,
then keeps a verified copy under ``$SEQBENCH_HOME/models/<weights sha256[:16]>/``, where its
traces are cached; an archive is checked member by member before anything is extracted.
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

from seqbench import __version__, checkpoints, paths
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
    if out.exists():
        raise SeqbenchError(f"{out} exists", "choose another --out or delete it first")
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


def models_dir() -> Path:
    """Verified copies of bundles opened in this home."""
    return paths.home() / "models"


def _safe_members(archive: tarfile.TarFile, where: str) -> list[tarfile.TarInfo]:
    """Every member, checked: regular files and folders, relative, inside the archive."""
    members = archive.getmembers()
    if len(members) > MAX_MEMBERS:
        raise SeqbenchError(
            f"{where} has {len(members)} members; a seqbench model has a handful",
            "pass an archive made by `seqbench export`",
        )
    for member in members:
        name = Path(member.name)
        if name.is_absolute() or ".." in name.parts or member.name.startswith(("/", "\\")):
            raise SeqbenchError(
                f"{where}: member {member.name!r} would be written outside the archive's folder",
                "refusing to extract it; pass an archive made by `seqbench export`",
            )
        if not (member.isfile() or member.isdir()):
            raise SeqbenchError(
                f"{where}: member {member.name!r} is a link or device, not a file",
                "refusing to extract it; pass an archive made by `seqbench export`",
            )
    return members


@contextmanager
def _unpacked(path: Path, scratch: Path) -> Iterator[Path]:
    """The bundle folder: ``path`` itself, or the archive extracted into ``scratch``."""
    if path.is_dir():
        yield path
        return
    where = str(path)
    try:
        with tarfile.open(path, "r:*") as archive:
            members = _safe_members(archive, where)
            for member in members:
                archive.extract(member, scratch, filter="data")
    except SeqbenchError:
        raise
    except (tarfile.TarError, EOFError, OSError, ValueError) as err:
        raise SeqbenchError(
            f"{where} is not a readable model archive ({type(err).__name__}: {err}); it may be "
            "truncated",
            "download or export it again (`seqbench export ... --out FILE.tar.gz`)",
        ) from err
    yield scratch


def _verify(folder: Path, where: str) -> dict[str, Any]:
    """The manifest of a bundle folder after checking format, file hashes and the model."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise SeqbenchError(
            f"{where} has no readable {MANIFEST} ({err})",
            "pass a folder or archive made by `seqbench export`",
        ) from err
    if manifest.get("format") != FORMAT:
        raise SeqbenchError(
            f"{where} is format {manifest.get('format')!r}, this seqbench reads {FORMAT!r}",
            "export it again with this seqbench version",
        )
    files = manifest.get("files") or {}
    for required in (*CHECKPOINT_FILES, "data/manifest.json"):
        if required not in files:
            raise SeqbenchError(f"{where}: the manifest lists no {required}", "export it again")
    for name, expected in files.items():
        target = folder / name
        if ".." in Path(name).parts or Path(name).is_absolute():
            raise SeqbenchError(f"{where}: manifest file {name!r} is outside the bundle", "")
        if not target.is_file():
            raise SeqbenchError(f"{where}: {name} is missing", "download or export it again")
        actual = sha256_file(target)
        if actual != expected:
            raise SeqbenchError(
                f"{where}: {name} has sha256 {actual[:12]}, its manifest says {expected[:12]} "
                "(corrupt or altered)",
                "download or export it again",
            )
    if files["model.safetensors"] != manifest.get("weights_sha256"):
        raise SeqbenchError(f"{where}: the weights hash disagrees with weights_sha256", "")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    model = str(config.get("model", ""))
    if model not in MODEL_REGISTRY.names() or model != manifest.get("model"):
        raise SeqbenchError(
            f"{where}: model {model!r} is not registered in this seqbench",
            f"registered models: {', '.join(MODEL_REGISTRY.names())} (see `seqbench list models`)",
        )
    return manifest


def open_bundle(path: Path) -> Bundle:
    """Verify the bundle at ``path`` and return its copy under ``models/`` (made once)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise SeqbenchError(f"{path} does not exist", "pass a folder or .tar.gz from `export`")
    root = models_dir()
    root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".open-", dir=root))
    try:
        with _unpacked(path, scratch / "bundle") as folder:
            manifest = _verify(folder, str(path))
            target = root / str(manifest["weights_sha256"])[:16]
            if (target / MANIFEST).is_file():
                return Bundle(target, _verify(target, str(target)), str(path))
            staged = scratch / "copy"
            shutil.copytree(folder, staged)
            staged.replace(target)  # atomic: a half-made copy is never seen under models/
            return Bundle(target, manifest, str(path))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def differing_tokenizers(a: Path, b: Path) -> list[str]:
    """Names of tokenizer files that differ (or exist once) between the folders ``a``, ``b``."""
    names = {p.name for d in (a, b) for p in d.iterdir() if p.suffix in DATA_SUFFIXES}

    def same(name: str) -> bool:
        x, y = a / name, b / name
        return x.is_file() and y.is_file() and sha256_file(x) == sha256_file(y)

    return sorted(n for n in names if not same(n))
