"""Hostile and careless inputs (issue 32), each built here by the test itself.

Shared model bundles (poisoned copies, hostile configs, rehashed weights, links, FIFOs,
unlisted members, the size cap, concurrent opens, broken imports), local data that names
files outside its folder, malformed rows and YAML, and command-line values that used to end
in a traceback-like ``error: ExceptionName`` line. Every refusal must be one line, exit 2,
and leave no file outside ``$SEQBENCH_HOME`` (nor a copy in its ``models/``).
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import re
import shutil
import socket
import tarfile
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from seqbench import bundle
from seqbench.cli.main import cli
from seqbench.config import SourceSpec
from seqbench.errors import SeqbenchError

TASK, MODEL, PRESET = "sort-of-clevr", "rn", "tiny"
EXCEPTION_LINE = re.compile(r"error: [A-Z]\w*(Error|Exception|Interrupt)\b")


def invoke(home: Path, *args: str, **env: str) -> Any:
    environ = {"SEQBENCH_HOME": str(home), "SEQBENCH_QUIET": "1", **env}
    return CliRunner().invoke(cli, list(args), env=environ, catch_exceptions=False)


def snapshot(root: Path) -> set[Path]:
    return set(root.rglob("*"))


def refused(result: Any, expected: str, *, before: set[Path], root: Path, home: Path) -> None:
    """One line, exit 2, the expected words, and nothing new outside ``home``."""
    text = result.output
    assert result.exit_code == 2, text
    assert expected in text.replace("\n", ""), text
    assert "Traceback" not in text and not EXCEPTION_LINE.search(text), text
    assert text.strip().count("\n") <= 3, text  # one line; Rich may wrap it
    assert {p for p in snapshot(root) - before if not p.is_relative_to(home)} == set()
    models = home / "models"
    kept = [p for p in models.iterdir() if not p.name.startswith(".")] if models.exists() else []
    assert kept == [], kept


def one_line(error: SeqbenchError) -> str:
    assert "\n" not in str(error)
    return str(error)


# --- a genuine bundle, and hostile copies of it -------------------------------------------


@pytest.fixture(scope="module")
def genuine(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("hostile")
    home = root / "home-train"
    folder, archive = root / "rn-folder", root / "rn.tar.gz"
    export = ("export", "--task", TASK, "--model", MODEL, "--preset", PRESET, "--out")
    for out in (folder, archive):
        result = invoke(home, *export, str(out))
        if result.exit_code != 0:  # trained on first use
            assert invoke(home, "train", TASK, "--model", MODEL, "--preset", PRESET).exit_code == 0
            result = invoke(home, *export, str(out))
        assert result.exit_code == 0, result.output
    fresh = root / "home-fresh"
    result = invoke(fresh, "eval", "--checkpoint", str(folder), "--accel", "cpu")
    assert result.exit_code == 0, result.output
    (record,) = _records(fresh)
    return {"root": root, "folder": folder, "archive": archive, "record": record}


def _records(home: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((home / "results").rglob("*.json"))]


def _comparable(record: dict[str, Any]) -> dict[str, Any]:
    keep = ("task", "split", "model", "profile", "preset", "seed", "data_fingerprint", "quality")
    checkpoint = dict(record["checkpoint"])
    checkpoint["path"] = Path(checkpoint["path"]).name  # models/<key> of each home
    return {**{k: record[k] for k in keep}, "checkpoint": checkpoint}


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _rehash(folder: Path) -> None:
    """Recompute every listed hash (and weights_sha256), as an attacker who edits would."""
    manifest = _json(folder / bundle.MANIFEST)
    for name in manifest["files"]:
        manifest["files"][name] = bundle.sha256_file(folder / name)
    manifest["weights_sha256"] = manifest["files"]["model.safetensors"]
    (folder / bundle.MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")


def _edit_config(edit: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        config = _json(folder / "config.json")
        edit(config)
        (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
        _rehash(folder)

    return apply


def _edit_manifest(key: str, value: Any) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        manifest = _json(folder / bundle.MANIFEST)
        manifest[key] = value
        (folder / bundle.MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")

    return apply


def _set_model_config(key: str, value: Any) -> Callable[[Path], None]:
    return _edit_config(lambda c: c["model_config"].__setitem__(key, value))


def _tamper_weights(folder: Path) -> None:
    weights = bytearray((folder / "model.safetensors").read_bytes())
    weights[-4:] = b"\x7f\x7f\x7f\x7f"  # still loadable, other numbers
    (folder / "model.safetensors").write_bytes(bytes(weights))
    _rehash(folder)  # config.json still names the genuine weights


def _truncate_weights(folder: Path) -> None:
    weights = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(weights[:24])
    config = _json(folder / "config.json")
    config["weights_sha256"] = bundle.sha256_file(folder / "model.safetensors")
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    _rehash(folder)


def _link(target: str) -> Callable[[Path], None]:
    """A listed-looking member that is a link: to a device, or to a folder outside."""

    def apply(folder: Path) -> None:
        dest = Path(target)
        if not dest.is_absolute():
            dest = folder.parent / target
            dest.mkdir(exist_ok=True)
        (folder / "data" / "extra.model").symlink_to(dest)

    return apply


def _unlisted(folder: Path) -> None:
    (folder / "data" / "payload.bin").write_bytes(b"x" * 4096)


def _fifo(folder: Path) -> None:
    os.mkfifo(folder / "data" / "pipe.model")


def _big_listed(folder: Path) -> None:
    (folder / "data" / "big.model").write_bytes(b"\0" * (3 << 19))  # 1.5 MB
    manifest = _json(folder / bundle.MANIFEST)
    manifest["files"]["data/big.model"] = ""
    (folder / bundle.MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    _rehash(folder)


# name -> (edit of a folder copy, words the one-line refusal must hold, extra env)
HOSTILE: dict[str, tuple[Callable[[Path], None], str, dict[str, str]]] = {
    "config-negative-size": (_set_model_config("g_hidden", -5), "'g_hidden'", {}),
    "config-string-size": (_set_model_config("channels", "x"), "'channels'", {}),
    "config-74TB": (_set_model_config("g_hidden", 10**9), "do not fit model 'rn'", {}),
    "config-zero-vocabulary": (_set_model_config("question_vocab_size", 0), "does not build", {}),
    "config-not-mapping": (
        _edit_config(lambda c: c.__setitem__("model_config", [1])),
        "model_config",
        {},
    ),
    "config-unfinished": (
        _edit_config(lambda c: c.__setitem__("complete", False)),
        "finished run",
        {},
    ),
    "rehashed-weights": (_tamper_weights, "config.json says weights_sha256", {}),
    "truncated-weights": (_truncate_weights, "not a readable safetensors file", {}),
    "manifest-seed": (_edit_manifest("seed", "x"), "'seed'", {}),
    "manifest-preset": (_edit_manifest("preset", "huge"), "'preset'", {}),
    "manifest-task-path": (_edit_manifest("task", "../../etc"), "not a valid name", {}),
    "manifest-files": (_edit_manifest("files", []), "'files' is not a mapping", {}),
    "link-to-dev-zero": (_link("/dev/zero"), "is a link", {}),
    "link-to-outside-folder": (_link("outside"), "is a link", {}),
    "fifo-member": (_fifo, "FIFO", {}),
    "unlisted-member": (_unlisted, "'data/payload.bin' is not listed", {}),
    "size-cap": (_big_listed, "over the cap", {"SEQBENCH_MAX_BUNDLE_MB": "1"}),
}


def _variant(genuine: dict[str, Any], where: Path, name: str) -> Path:
    folder = where / "rn-folder"
    shutil.copytree(genuine["folder"], folder)
    HOSTILE[name][0](folder)
    return folder


def _as_archive(folder: Path) -> Path:
    archive = folder.with_name(folder.name + ".tar.gz")
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(folder.rglob("*")):  # links and FIFOs go in as such
            if not path.is_dir() or path.is_symlink():
                tar.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False)
    return archive


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_bundle_is_one_line_and_keeps_nothing(
    genuine: dict[str, Any], tmp_path: Path, name: str
) -> None:
    hostile = _variant(genuine, tmp_path, name)
    home = tmp_path / "home"
    before = snapshot(tmp_path)
    result = invoke(home, "import", str(hostile), **HOSTILE[name][2])
    refused(result, HOSTILE[name][1], before=before, root=tmp_path, home=home)
    assert str(hostile) in result.output.replace("\n", "")  # names the bundle the user gave
    assert "seqbench train" not in result.output  # a bundle is exported again, not retrained
    assert not (home / "runs").exists()


def test_unlisted_archive_member_is_refused_before_extraction(
    genuine: dict[str, Any], tmp_path: Path
) -> None:
    archive = tmp_path / "extra.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(genuine["folder"].rglob("*")):
            if path.is_file():
                tar.add(path, arcname=path.relative_to(genuine["folder"]).as_posix())
        info = tarfile.TarInfo("data/payload.bin")
        info.size = 1 << 16
        tar.addfile(info, io.BytesIO(b"\0" * info.size))
    home, before = tmp_path / "home", snapshot(tmp_path)
    result = invoke(home, "eval", "--checkpoint", str(archive))
    refused(result, "'data/payload.bin' is not listed", before=before, root=tmp_path, home=home)


def test_a_failure_after_verification_keeps_no_copy(
    genuine: dict[str, Any], tmp_path: Path
) -> None:
    home, before = tmp_path / "home", snapshot(tmp_path)
    args = ("eval", "--checkpoint", str(genuine["folder"]), "--task", "scan", "--preset", "tiny")
    result = invoke(home, *args)  # a genuine bundle on data it does not fit
    refused(result, "is a vqa model", before=before, root=tmp_path, home=home)


def test_a_fifo_as_checkpoint_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "model.tar.gz"
    os.mkfifo(fifo)
    home, before = tmp_path / "home", snapshot(tmp_path)
    result = invoke(home, "eval", "--checkpoint", str(fifo))  # used to block forever
    refused(result, "not a regular file or folder", before=before, root=tmp_path, home=home)


def test_genuine_record_after_every_hostile_bundle_equals_a_fresh_homes(
    genuine: dict[str, Any], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    # A bundle with the genuine weights and an edited manifest (hashes recomputed) first.
    poisoned = tmp_path / "poisoned"
    shutil.copytree(genuine["folder"], poisoned)
    _edit_manifest("origin", {"home": "attacker", "run": "evil"})(poisoned)
    assert invoke(home, "eval", "--checkpoint", str(poisoned), "--accel", "cpu").exit_code == 0
    for name, (_, _, env) in HOSTILE.items():
        where = tmp_path / name
        where.mkdir()
        hostile = _variant(genuine, where, name)
        for path in (hostile, _as_archive(hostile)):
            assert invoke(home, "eval", "--checkpoint", str(path), **env).exit_code == 2, name
    result = invoke(home, "eval", "--checkpoint", str(genuine["folder"]), "--accel", "cpu")
    assert result.exit_code == 0, result.output
    mine = [
        r for r in _records(home) if r["checkpoint"]["origin"]["bundle"] == str(genuine["folder"])
    ]
    assert len(mine) == 1
    got, fresh = _comparable(mine[0]), _comparable(genuine["record"])
    assert {k: got[k] for k in got if got[k] != fresh[k]} == {}
    assert mine[0]["checkpoint"]["origin"]["home"] != "attacker"
    copies = [p for p in (home / "models").iterdir() if not p.name.startswith(".")]
    assert len(copies) == 2  # the poisoned bundle's copy and the genuine one's, apart


def _open_after(barriers: Any, home: str, folder: str) -> str:
    """Open ``folder`` in a forked child; both children meet at the rename into ``models/``
    (the race), which a per-copy lock lets only one of them reach at a time."""
    os.environ["SEQBENCH_HOME"] = home
    start, rename = barriers
    real_replace = os.replace

    def meet_then_replace(src: Any, dst: Any) -> None:
        if Path(dst).parent.name == "models" and not Path(dst).name.startswith("."):
            try:
                rename.wait(2)  # the other opener holds the lock: it never comes
            except threading.BrokenBarrierError:
                pass
        real_replace(src, dst)

    os.replace = meet_then_replace  # this child only
    start.wait(30)
    return str(bundle.open_bundle(Path(folder)).directory)


def test_two_concurrent_opens_of_one_bundle_both_succeed(
    genuine: dict[str, Any], tmp_path: Path
) -> None:
    context = multiprocessing.get_context("fork")
    manager = context.Manager()
    barriers = (manager.Barrier(2), manager.Barrier(2))
    with context.Pool(2) as pool:
        args = [(barriers, str(tmp_path / "home"), str(genuine["folder"]))] * 2
        opened = pool.starmap(_open_after, args)
    manager.shutdown()
    assert opened[0] == opened[1]
    assert [p.name for p in (tmp_path / "home" / "models").iterdir()] == [Path(opened[0]).name]


def test_a_broken_imported_run_is_reported_not_finished(
    genuine: dict[str, Any], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    assert invoke(home, "import", str(genuine["folder"])).exit_code == 0
    (config_path,) = (home / "runs").rglob("config.json")
    config = _json(config_path)
    config["model_config"]["g_hidden"] = 7  # as an import of the old code could leave it
    config_path.write_text(json.dumps(config), encoding="utf-8")
    again = invoke(home, "import", str(genuine["folder"]))
    assert again.exit_code == 0 and "broken checkpoint" in again.output.replace("\n", "")
    assert _json(config_path)["model_config"]["g_hidden"] != 7  # replaced by the import
    config_path.write_text(json.dumps(config), encoding="utf-8")
    result = invoke(home, "train", TASK, "--model", MODEL, "--preset", PRESET)
    assert result.exit_code == 0, result.output
    assert "nothing to do" not in result.output
    assert "do not fit" in result.output.replace("\n", "")  # said why, then trained again


def test_cache_clean_removes_stale_open_scratch(tmp_path: Path) -> None:
    from seqbench.atomic import HOST_TAG

    models = tmp_path / "home" / "models"
    dead = models / f".open-bundle.tmp{2**22 + 17}h{HOST_TAG}-abc.tmp"
    live = models / f".open-bundle.tmp{os.getpid()}h{HOST_TAG}-abc.tmp"
    legacy = models / ".open-k3j4h5"  # an older seqbench's scratch, hours old
    for folder in (dead, live, legacy):
        (folder / "bundle").mkdir(parents=True)
    os.utime(legacy, (1, 1))
    result = invoke(tmp_path / "home", "cache", "clean")
    assert result.exit_code == 0, result.output
    assert not dead.exists() and not legacy.exists() and live.exists()


# --- local data stays in its folder -------------------------------------------------------


def _png(path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (8, 8), "white").save(path)


@pytest.mark.parametrize("image", ["/etc/hostname", "../../../etc/hostname", "sub/../../x.png"])
def test_vqa_jsonl_image_outside_its_folder_is_refused(tmp_path: Path, image: str) -> None:
    from seqbench.families.vqa.readers import JsonlReader

    folder = tmp_path / "set"
    folder.mkdir()
    _png(folder / "ok.png")
    rows = [{"image": "ok.png", "question": "q", "answers": ["a"]}]
    rows.append({"image": image, "question": "q", "answers": ["a"]})
    (folder / "set.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    reader = JsonlReader(SourceSpec(local=str(folder / "set.jsonl")))
    with pytest.raises(SeqbenchError, match=r"set.jsonl line 2: .*not a file name inside") as info:
        list(reader.examples("train"))
    one_line(info.value)


def test_a_link_out_of_the_folder_needs_follow_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from seqbench.data.inside import FOLLOW_LINKS_ENV
    from seqbench.families.vqa.readers import JsonlReader

    elsewhere, folder = tmp_path / "elsewhere", tmp_path / "set"
    elsewhere.mkdir()
    folder.mkdir()
    _png(elsewhere / "far.png")
    (folder / "far.png").symlink_to(elsewhere / "far.png")  # a folder of links, on purpose
    row = {"image": "far.png", "question": "q", "answers": ["a"]}
    (folder / "set.jsonl").write_text(json.dumps(row) + "\n")
    reader = JsonlReader(SourceSpec(local=str(folder)))
    monkeypatch.delenv(FOLLOW_LINKS_ENV, raising=False)
    with pytest.raises(SeqbenchError, match="--follow-links"):
        list(reader.examples("train"))
    monkeypatch.setenv(FOLLOW_LINKS_ENV, "1")
    (example,) = reader.examples("train")
    assert example.image == folder / "far.png"


def test_external_test_set_naming_etc_is_one_line_on_the_cli(
    genuine: dict[str, Any], tmp_path: Path
) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    row = {"image": "/etc/hostname", "question": "what shape", "answers": ["circle"]}
    (folder / "set.jsonl").write_text(json.dumps(row) + "\n")
    home, before = tmp_path / "home", snapshot(tmp_path)
    args = ("eval", "--checkpoint", str(genuine["folder"]), "--test-set", f"local:{folder}")
    result = invoke(home, *args)
    assert result.exit_code == 2 and "set.jsonl line 1" in result.output.replace("\n", "")
    assert "Traceback" not in result.output and not EXCEPTION_LINE.search(result.output)
    assert {p for p in snapshot(tmp_path) - before if not p.is_relative_to(home)} == set()


def test_non_utf8_vqa_jsonl_names_file_and_line(tmp_path: Path) -> None:
    from seqbench.families.vqa.readers import JsonlReader

    path = tmp_path / "set.jsonl"
    good = json.dumps({"image": "a.png", "question": "q", "answers": ["a"]}).encode()
    path.write_bytes(good + b"\n" + b'{"image": "b.png", "question": "\xff\xfe"}\n')
    with pytest.raises(SeqbenchError, match=r"set.jsonl line 2: not UTF-8") as info:
        JsonlReader(SourceSpec(local=str(path)))
    one_line(info.value)


def test_binding_audio_outside_its_folder_is_refused(tmp_path: Path) -> None:
    from seqbench.families.binding.sources import from_local

    for split in ("train", "dev", "test"):
        _png(tmp_path / f"{split}.png")
        row = {"image": f"{split}.png", "audio": "/etc/passwd", "captions": ["a red circle"]}
        (tmp_path / f"{split}.jsonl").write_text(json.dumps(row) + "\n")
    with pytest.raises(SeqbenchError, match=r"train.jsonl line 1: '/etc/passwd' is not a file"):
        from_local(SourceSpec(local=str(tmp_path)), {}, 0)


def test_faces_pairs_name_outside_the_lfw_folder_is_refused(tmp_path: Path) -> None:
    from seqbench.families.faces.protocol import read_pairs_file

    pairs = tmp_path / "pairs.txt"
    pairs.write_text("1 1\n../../../etc 1 2\nA 1 B 1\n")
    with pytest.raises(SeqbenchError, match=r"pairs.txt:2: '../../../etc' is not a person"):
        read_pairs_file(pairs)


def test_faces_image_error_names_pairs_not_questions(tmp_path: Path) -> None:
    from seqbench.families.faces.sources import face_array

    broken = tmp_path / "Ann_0001.jpg"
    broken.write_bytes(b"not a jpeg")
    with pytest.raises(SeqbenchError) as info:
        face_array(broken, 16, 0.5)
    assert "questions" not in str(info.value) and "pairs.txt" in str(info.value)


# --- malformed rows, YAML and profile values ------------------------------------------------


@pytest.mark.parametrize(
    "name, data, words",
    [
        ("three.tsv", b"ein Hund\ta dog\nzwei\tKatzen\ttwo cats\n", "line 2: found 3"),
        ("nul.tsv", b"ein Hund\ta dog\nzw\x00ei\ttwo\n", "line 2: a NUL byte"),
        ("rows.jsonl", b'{"de": "Hund", "en": "dog"}\n{"de": 0, "en": [0]}\n', "line 2: de is int"),
        ("nul.jsonl", b'{"de": "a\\u0000b", "en": "x"}\n', "line 1: de holds a NUL"),
    ],
)
def test_malformed_translation_rows_name_file_and_line(
    tmp_path: Path, name: str, data: bytes, words: str
) -> None:
    from seqbench.families.translation.files import Fields, read_jsonl, read_tsv

    path = tmp_path / name
    path.write_bytes(data)
    read = read_tsv if name.endswith(".tsv") else read_jsonl
    with pytest.raises(SeqbenchError, match=re.escape(words)) as info:
        read((path,), Fields("de", "en") if name.endswith(".jsonl") else Fields())
    assert str(path) in one_line(info.value)


def test_malformed_tsv_on_the_cli(tmp_path: Path) -> None:
    data = tmp_path / "pairs.tsv"
    data.write_bytes(b"".join(b"ein Satz %d\ta sentence %d\n" % (i, i) for i in range(30)))
    data.write_bytes(data.read_bytes() + b"zwei\tKatzen\ttwo cats\n")
    home, before = tmp_path / "home", snapshot(tmp_path)
    result = invoke(home, "prepare", "multi30k", "--preset", "tiny", "--source", f"local:{data}")
    refused(result, "pairs.tsv line 31", before=before, root=tmp_path, home=home)
    assert not (home / "tasks").exists()  # a source that does not read is never bound


def _copy_profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from seqbench import paths

    folder = Path(shutil.copytree(paths.accelerators_dir(), tmp_path / "accelerators"))
    monkeypatch.setenv("SEQBENCH_ACCELERATORS", str(folder))
    return folder


@pytest.mark.parametrize(
    "setting", ["adc.bits=4.5", "crossbar.rows=100.5", "crossbar.bits_per_cell=1.5"]
)
def test_sweep_refuses_fractions_of_whole_parameters(setting: str) -> None:
    from seqbench.accel.profile import load_named
    from seqbench.sweep.grid import parse_sets

    with pytest.raises(SeqbenchError, match="not a whole number") as info:
        parse_sets([setting], load_named("retransformer"))
    one_line(info.value)


def test_profile_yaml_refuses_fractions_duplicates_and_a_foreign_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from seqbench.accel.profile import load_profile

    folder = _copy_profiles(tmp_path, monkeypatch)
    path = folder / "retransformer.yaml"
    text = path.read_text()
    path.write_text(text.replace("rows: {value: 128,", "rows: {value: 100.5,", 1))
    with pytest.raises(SeqbenchError, match="crossbar.rows is 100.5 count, not a whole"):
        load_profile(path)
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("rows:"))
    path.write_text("\n".join([*lines[: at + 1], lines[at], *lines[at + 1 :]]) + "\n")
    with pytest.raises(SeqbenchError, match=rf"retransformer.yaml:{at + 2}: key 'rows' appears"):
        load_profile(path)
    cpu = folder / "cpu.yaml"
    cpu.write_text(re.sub(r"^name: cpu$", "name: gpu", cpu.read_text(), flags=re.M))
    with pytest.raises(SeqbenchError, match="name 'gpu' differs from the file name 'cpu'"):
        load_profile(cpu)


def test_duplicate_key_in_a_task_spec_names_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from seqbench import paths

    folder = tmp_path / "tasks"
    shutil.copytree(paths.tasks_dir(), folder)
    spec = folder / "scan.yaml"
    spec.write_text(spec.read_text() + "family: translation\n")
    monkeypatch.setenv("SEQBENCH_TASKS", str(folder))
    home, before = tmp_path / "home", snapshot(tmp_path)
    result = invoke(home, "prepare", "scan", "--preset", "tiny")
    refused(result, "key 'family' appears twice", before=before, root=tmp_path, home=home)
    assert f"{spec}:" in result.output.replace("\n", "")


def test_a_broken_profile_is_said_once_by_its_full_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _copy_profiles(tmp_path, monkeypatch)
    path = folder / "retransformer.yaml"
    path.write_text(path.read_text().replace("lanes: {value: 32,", "lanes: {value: 0,", 1))
    home = tmp_path / "home"
    env = {"SEQBENCH_ACCELERATORS": str(folder)}
    result = invoke(home, "accels", "show", "retransformer", **env)
    assert result.exit_code == 2
    assert result.output.count("vector.lanes") == 1 and str(path) in result.output.replace("\n", "")


# --- command-line values --------------------------------------------------------------------


def test_a_huge_sweep_grid_asks_for_yes(tmp_path: Path) -> None:
    values = ",".join(str(v) for v in range(1, 11))
    sets = [f"--set={p}={values}" for p in ("adc.bits", "crossbar.rows", "crossbar.cols")]
    sets += ["--set=adc.energy=1,2,3,4,5,6,7,8,9,10", "--set=chip.tiles=1,2,3,4,5,6,7,8,9,10"]
    home, before = tmp_path / "home", snapshot(tmp_path)
    args = ("sweep", "--task", "scan", "--model", "gru", "--accel", "retransformer", *sets)
    result = invoke(home, *args)
    refused(result, "100,000 design points", before=before, root=tmp_path, home=home)
    assert "--yes" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ("train", "scan", "--model", "gru", "--seed", "99999999999999999999"),
        ("eval", "--task", "scan", "--model", "gru", "--seed", "-1"),
        (
            "sweep",
            "--task",
            "scan",
            "--model",
            "gru",
            "--accel",
            "cpu",
            "--set",
            "x=1",
            "--seed",
            "99999999999999999999",
        ),
    ],
    ids=["train", "eval", "sweep"],
)
def test_seed_out_of_range_is_a_usage_error(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = invoke(tmp_path / "home", *args)
    assert result.exit_code == 2 and "--seed" in result.output
    assert "Overflow" not in result.output and not EXCEPTION_LINE.search(result.output)
    assert not (tmp_path / "home" / "runs").exists()


def test_export_into_a_files_path_is_one_line(tmp_path: Path) -> None:
    existing = tmp_path / "existing"
    existing.write_text("a file")
    home, before = tmp_path / "home", snapshot(tmp_path)
    out = existing / "x.tar.gz"
    args = ("export", "--task", TASK, "--model", MODEL, "--preset", PRESET, "--out", str(out))
    result = invoke(home, *args)
    refused(result, "is a file, not a folder", before=before, root=tmp_path, home=home)
    assert existing.read_text() == "a file"


@pytest.fixture()
def not_ray() -> Any:
    """A local TCP port that accepts and answers like a web server, not like Ray's gRPC."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(5)
    server.close()


def test_an_address_that_is_not_ray_fails_at_once(tmp_path: Path, not_ray: str) -> None:
    home, before = tmp_path / "home", snapshot(tmp_path)
    args = ("run", "--task", "scan", "--preset", "tiny", "--executor", "ray", "--address", not_ray)
    result = invoke(home, *args)
    refused(result, "is not a Ray cluster", before=before, root=tmp_path, home=home)


def test_undecodable_audio_is_one_line_without_librosa_warnings(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from seqbench.data.audio import load_clip

    clip = tmp_path / "clip.wav"
    clip.write_bytes(b"RIFF not really a wave file" * 40)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(SeqbenchError, match="cannot decode audio file .*clip.wav") as info:
            load_clip(clip, 1.0)
    one_line(info.value)
    assert caught == [] and "Warning" not in capfd.readouterr().err
