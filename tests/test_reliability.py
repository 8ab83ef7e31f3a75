"""One test per defect of issue 17 (each failed on the code before the fix): verified
checkpoints, one writer per artifact, checkpoint identity, names that stay in their folder,
malformed files named and skipped, checked numbers, stale temp files, disk full."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from seqbench import paths, results
from seqbench.cli.main import cli

TINY = ("--preset", "tiny")


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SEQBENCH_QUIET", "1")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "home"


def invoke(*args: str):  # noqa: ANN201
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def train_gru() -> Path:
    result = invoke("train", "scan", "--model", "gru", *TINY)
    assert result.exit_code == 0, result.output
    (weights,) = paths.runs_dir().rglob("model.safetensors")
    return weights


def tasks_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit) -> None:  # noqa: ANN001
    """A copy of the bundled task specs with ``edit(scan_spec_dict)`` applied to scan.yaml."""
    folder = tmp_path / "tasks"
    shutil.copytree(paths.tasks_dir(), folder)
    spec = yaml.safe_load((folder / "scan.yaml").read_text())
    edit(spec)
    (folder / "scan.yaml").write_text(yaml.safe_dump(spec))
    monkeypatch.setenv("SEQBENCH_TASKS", str(folder))


# --- High -----------------------------------------------------------------------------------


def test_tampered_weights_are_refused_where_read(home: Path) -> None:
    weights = train_gru()
    data = bytearray(weights.read_bytes())
    data[-8:] = b"\x7f" * 8  # still a loadable safetensors file, different numbers
    weights.write_bytes(bytes(data))
    result = invoke("eval", "--task", "scan", "--model", "gru", *TINY, "--no-train")
    assert result.exit_code == 2
    assert str(weights) in result.output and "hashes to" in result.output
    assert "--force" in result.output
    assert not list((home / "results").rglob("*.json"))


def test_truncated_checkpoint_is_trained_again_not_reused(home: Path) -> None:
    weights = train_gru()
    weights.write_bytes(weights.read_bytes()[:-100])
    result = invoke("train", "scan", "--model", "gru", *TINY)
    assert result.exit_code == 0
    assert "nothing to do" not in result.output
    info = json.loads((weights.parent / "config.json").read_text())
    assert info["weights_sha256"] == results_hash(weights)


def results_hash(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _train_in_child(home: str, barrier, out) -> None:  # noqa: ANN001
    os.environ["SEQBENCH_HOME"] = home
    barrier.wait()
    from seqbench.stages import train_task

    out.put(train_task("scan", "gru", "tiny").reused)


def test_two_trainers_of_one_run_train_it_once(home: Path) -> None:
    invoke("prepare", "scan", *TINY)
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    children = [ctx.Process(target=_train_in_child, args=(str(home), barrier, out)) for _ in "ab"]
    for child in children:
        child.start()
    for child in children:
        child.join(120)
    assert [c.exitcode for c in children] == [0, 0]
    assert sorted([out.get(), out.get()]) == [False, True]  # one trained, one waited and reused
    (weights,) = paths.runs_dir().rglob("model.safetensors")
    info = json.loads((weights.parent / "config.json").read_text())
    assert info["weights_sha256"] == results_hash(weights)


def _hold_exclusive(home: str, guarded: str, ready, done) -> None:  # noqa: ANN001
    os.environ["SEQBENCH_HOME"] = home
    from seqbench import locks

    with locks.hold(Path(guarded), "the test artifact"):
        ready.set()
        done.wait(60)


def test_a_second_writer_is_told_who_holds_the_lock(home: Path) -> None:
    from seqbench import locks
    from seqbench.errors import SeqbenchError

    guarded = home / "runs" / "x"
    ctx = multiprocessing.get_context("fork")
    ready, done = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_exclusive, args=(str(home), str(guarded), ready, done))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(SeqbenchError, match=f"in use by pid {holder.pid} "):
            with locks.hold(guarded, "the test artifact", wait=False):
                pass
    finally:
        done.set()
        holder.join(30)
    with locks.hold(guarded, "the test artifact", wait=False):  # free once its holder is gone
        pass


# --- Medium ---------------------------------------------------------------------------------


def _record(**changes: object) -> dict:
    record = {
        "schema_version": results.SCHEMA_VERSION,
        "timestamp": "2026-01-01T00:00:00.000+00:00",
        "task": "scan:simple",
        "family": "translation",
        "split": "test",
        "model": "gru",
        "profile": "cpu",
        "preset": "tiny",
        "limit": None,
        "quality": {"metrics": {"bleu": 10.0}, "primary": "bleu", "signature": "s", "samples": 9},
        "host": {"units_per_s": 1.0, "unit": "token", "samples": 9},
        "simulated": {"energy_J_per_unit": 1e-6},
    }
    record.update(changes)
    return record


def _put(root: Path, name: str, record: dict | bytes) -> Path:
    path = root / "scan__simple" / "gru" / "cpu" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(record if isinstance(record, bytes) else json.dumps(record).encode())
    return path


def test_a_family_from_a_record_cannot_escape_the_report_folder(home: Path) -> None:
    _put(home / "results", "a.json", _record(family="../../x/pwn"))
    _put(home / "results", "b.json", _record())
    out = home.parent / "deep" / "boards"
    result = invoke("report", "--out", str(out), "--no-plots", "--format", "md")
    assert result.exit_code == 0, result.output
    assert "family" in result.output and "a.json" in result.output
    assert not list(home.parent.rglob("pwn*"))
    assert (out / "translation.md").is_file()


def test_task_spec_name_cannot_escape_home(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks_copy(tmp_path, monkeypatch, lambda spec: spec.update(name="../../escape"))
    result = invoke("prepare", "scan", *TINY)
    assert result.exit_code == 2
    assert "scan.yaml" in result.output and "not a valid name" in result.output
    assert not list(tmp_path.rglob("escape*"))


def test_checkpoint_identity_covers_model_and_train_config(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train_gru()

    def bigger(spec: dict) -> None:
        spec["presets"]["tiny"]["model_overrides"]["gru"]["hidden_dim"] = 24

    tasks_copy(tmp_path, monkeypatch, bigger)
    result = invoke("train", "scan", "--model", "gru", *TINY)
    assert result.exit_code == 0
    assert "nothing to do" not in result.output
    configs = [json.loads(p.read_text()) for p in paths.runs_dir().rglob("config.json")]
    assert sorted(c["model_config"]["hidden_dim"] for c in configs) == [24, 32]


@pytest.mark.parametrize(
    "bad",
    [b"\xff\xfe not utf-8", _record(task=None), _record(quality={"metrics": {"bleu": "high"}})],
    ids=["non-utf8", "no-task", "string-metric"],
)
def test_a_malformed_record_is_named_and_skipped(home: Path, bad: object) -> None:
    if isinstance(bad, dict) and bad["task"] is None:
        del bad["task"]
    bad_path = _put(home / "results", "bad.json", bad)  # type: ignore[arg-type]
    _put(home / "results", "good.json", _record())
    result = invoke("report", "--no-plots", "--format", "md")
    assert result.exit_code == 0, result.output
    assert "bad.json" in result.output.replace("\n", "") or str(bad_path) in result.output
    assert (home / "leaderboards" / "translation.md").is_file()


def test_non_utf8_manifest_is_an_invalid_cache_entry(home: Path) -> None:
    assert invoke("prepare", "scan", *TINY).exit_code == 0
    (manifest,) = paths.cache_dir().rglob("manifest.json")
    manifest.write_bytes(b"\xff\xfe\x00 broken")
    listed = invoke("cache", "ls")
    assert listed.exit_code == 0 and "no" in listed.output
    assert invoke("cache", "clean", "--invalid-only").exit_code == 0
    assert not manifest.parent.exists()
    result = invoke("prepare", "scan", *TINY)
    assert result.exit_code == 0 and "prepared" in result.output


def _hold_cache_entry(home: str, entry: str, ready, done) -> None:  # noqa: ANN001
    os.environ["SEQBENCH_HOME"] = home
    from seqbench.data import cache

    with cache.reading(Path(entry)):
        ready.set()
        done.wait(60)


def test_cache_clean_leaves_what_a_live_process_reads(home: Path) -> None:
    assert invoke("prepare", "scan", *TINY).exit_code == 0
    (manifest,) = paths.cache_dir().rglob("manifest.json")
    ctx = multiprocessing.get_context("fork")
    ready, done = ctx.Event(), ctx.Event()
    reader = ctx.Process(
        target=_hold_cache_entry, args=(str(home), str(manifest.parent), ready, done)
    )
    reader.start()
    try:
        assert ready.wait(30)
        result = invoke("cache", "clean")
        assert "kept" in result.output and manifest.is_file()
    finally:
        done.set()
        reader.join(30)
    assert invoke("cache", "clean").exit_code == 0
    assert not manifest.parent.exists()


def test_address_without_ray_and_unreachable_address_fail_fast(home: Path) -> None:
    result = invoke("run", "--task", "scan", *TINY, "--address", "127.0.0.1:1")
    assert result.exit_code == 2 and "--executor ray" in result.output
    from seqbench.errors import SeqbenchError
    from seqbench.executor import check_ray_address

    with pytest.raises(SeqbenchError, match="no Ray cluster answers at 127.0.0.1:1"):
        check_ray_address("127.0.0.1:1", timeout_s=2)


# --- Low ------------------------------------------------------------------------------------


def test_atomic_writes_fsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from seqbench import atomic

    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    atomic.write_text(tmp_path / "a.txt", "x")
    assert len(synced) >= 2  # the file, then its folder


def test_atomic_dir_never_leaves_the_target_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from seqbench import atomic

    target = tmp_path / "entry"
    target.mkdir()
    (target / "old").write_text("old")
    seen: list[bool] = []
    real = os.replace

    def watching(src: object, dst: object) -> None:
        real(src, dst)
        seen.append(target.exists())

    monkeypatch.setattr(os, "replace", watching)
    with atomic.atomic_dir(target) as tmp:
        (tmp / "new").write_text("new")
    assert all(seen)
    assert [p.name for p in target.iterdir()] == ["new"]
    assert [p.name for p in tmp_path.iterdir()] == ["entry"]


def test_stale_temps_of_dead_processes_are_removed(home: Path) -> None:
    from seqbench import atomic

    dead = 2**22 + 12345  # above pid_max on common kernels: no such process
    records = home / "results" / "scan__simple" / "gru" / "cpu"
    records.mkdir(parents=True)
    host = atomic.HOST_TAG
    stale = records / f".x.json.tmp{dead}h{host}-abcd.tmp"
    live = records / f".y.json.tmp{os.getpid()}h{host}-abcd.tmp"
    # Another machine's temp (shared home) is left alone while young.
    foreign = records / f".z.json.tmp{dead}h{'0' if host != '000000' else '1'}{host[1:]}-ab.tmp"
    foreign.write_text("another host writes this")
    stale.write_text("half")
    live.write_text("being written")
    cache_tmp = home / "cache" / "scan__simple" / f".0123abcd.tmp{dead}h{host}-zz.tmp"
    cache_tmp.mkdir(parents=True)
    assert invoke("list", "models").exit_code == 0  # any start cleans up
    assert not stale.exists() and live.exists() and foreign.exists() and not cache_tmp.exists()
    cache_tmp.mkdir(parents=True)
    result = invoke("cache", "clean")
    assert "1 temp file" in result.output or not cache_tmp.exists()
    assert not cache_tmp.exists()


@pytest.mark.parametrize(
    "args, text",
    [
        (("eval", "--task", "scan", "--model", "gru", *TINY, "--limit", "-5"), "--limit"),
        (("run", "--task", "scan", *TINY, "--jobs", "0"), "--jobs"),
        (("--threads", "0", "list", "models"), "--threads"),
    ],
    ids=["limit", "jobs", "threads"],
)
def test_bad_numbers_on_the_command_line(home: Path, args: tuple[str, ...], text: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 2 and text in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "key, value",
    [("epochs", -1), ("batch_size", 0), ("lr", "fast"), ("epochz", 3), ("precision", "fp16")],
)
def test_bad_training_options_name_file_key_and_range(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str, value: object
) -> None:
    tasks_copy(
        tmp_path, monkeypatch, lambda spec: spec["presets"]["tiny"]["train"].update({key: value})
    )
    result = invoke("train", "scan", "--model", "gru", *TINY)
    assert result.exit_code == 2
    assert "scan.yaml" in result.output and key in result.output
    assert not list(paths.runs_dir().rglob("config.json")) if paths.runs_dir().exists() else True


@pytest.mark.parametrize("key, value", [("max_train", -5), ("max_eval", 0), ("seed", "x")])
def test_bad_preset_sizes_name_file_and_key(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str, value: object
) -> None:
    tasks_copy(tmp_path, monkeypatch, lambda spec: spec["presets"]["tiny"].update({key: value}))
    result = invoke("prepare", "scan", *TINY)
    assert result.exit_code == 2
    assert "scan.yaml" in result.output and f"presets.tiny.{key}" in result.output


def test_unknown_preset_key_names_file_key_and_suggestion(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks_copy(tmp_path, monkeypatch, lambda spec: spec["presets"]["tiny"].update(max_trian=5))
    result = invoke("prepare", "scan", *TINY)
    assert result.exit_code == 2
    assert "scan.yaml" in result.output and "presets.tiny" in result.output
    assert "'max_trian'" in result.output and "max_train" in result.output
    assert "Traceback" not in result.output


def test_suite_tasks_must_be_a_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from seqbench.errors import SeqbenchError
    from seqbench.suites import load_suite

    folder = tmp_path / "tasks" / "suites"
    folder.mkdir(parents=True)
    monkeypatch.setenv("SEQBENCH_TASKS", str(folder.parent))
    (folder / "s.yaml").write_text("tasks: scan\n")
    with pytest.raises(SeqbenchError, match="list of task names"):
        load_suite("s")
    (folder / "s.yaml").write_text("tasks: [scan]\nefects_limit: {translation: 3}\n")
    with pytest.raises(SeqbenchError, match="unknown key"):
        load_suite("s")


def test_disk_full_names_the_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from seqbench import atomic
    from seqbench.errors import SeqbenchError

    def full(self: Path, *args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    target = tmp_path / "results" / "r.json"
    with pytest.raises(SeqbenchError) as info:
        atomic.write_json(target, {"a": 1})
    assert str(target) in str(info.value) and "disk full" in str(info.value)
    assert list(target.parent.iterdir()) == []


# --- issue 13: never clobber -------------------------------------------------------------------


def test_report_writes_under_home_by_default(home: Path) -> None:
    _put(home / "results", "a.json", _record())
    result = invoke("report", "--no-plots", "--format", "md")
    assert result.exit_code == 0
    assert str(home / "leaderboards") in result.output.replace("\n", "")
    assert not (home.parent / "leaderboards").exists()  # the cwd's tables are untouched


def test_a_partial_record_never_replaces_a_whole_one() -> None:
    whole = _record(timestamp="2026-01-01T00:00:00.000+00:00")
    partial = _record(timestamp="2026-06-01T00:00:00.000+00:00", limit=100)
    partial["quality"] = {**whole["quality"], "metrics": {"bleu": 99.0}, "samples": 100}
    assert results.newest_per_key([whole, partial]) == [whole]
    assert results.newest_per_key([partial]) == [partial]


# --- profiles -------------------------------------------------------------------------------


def _profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "accelerators"
    shutil.copytree(paths.accelerators_dir(), folder)
    monkeypatch.setenv("SEQBENCH_ACCELERATORS", str(folder))
    return folder


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("lanes: {value: 32,", "lanes: {value: .nan,", "finite"),
        ("lanes: {value: 32,", "lanes: {value: .inf,", "finite"),
        ("lanes: {value: 32,", "lanes: {value: 0,", "> 0"),
        ("clock: {value: 1.2,", "clock: {value: 0,", "> 0"),
        ("rows: {value: 128,", "rows: {value: 0,", "> 0"),
        ("name: retransformer", "name: ../../x", "not a valid name"),
    ],
)
def test_bad_profile_values_are_refused_by_file_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old: str, new: str, message: str
) -> None:
    from seqbench.accel.profile import load_profile
    from seqbench.errors import SeqbenchError

    path = _profiles(tmp_path, monkeypatch) / "retransformer.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(SeqbenchError, match=message) as info:
        load_profile(path)
    assert "retransformer.yaml" in str(info.value)


def test_a_broken_profile_is_reported_and_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from seqbench.accel.profile import resolve_profiles
    from seqbench.errors import SeqbenchError

    folder = _profiles(tmp_path, monkeypatch)
    (folder / "broken.yaml").write_text("name: [unclosed\n")
    assert [p.name for p in resolve_profiles("cpu")] == ["cpu"]
    assert "broken" not in [p.name for p in resolve_profiles("all")]
    assert "broken.yaml" in capsys.readouterr().err.replace("\n", "")
    with pytest.raises(SeqbenchError, match="broken.yaml"):
        resolve_profiles("broken")


def test_duplicate_profile_names_do_not_silently_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from seqbench.accel.profile import list_profiles

    folder = _profiles(tmp_path, monkeypatch)
    text = (folder / "retransformer.yaml").read_text()
    text = text.replace("aliases: [reretransformer]", "aliases: [retransformer]", 1)
    text = text.replace("name: retransformer", "name: zz-copy", 1)
    (folder / "zz-copy.yaml").write_text(text)  # claims retransformer's name as an alias
    profiles = list_profiles(folder)
    assert profiles["retransformer"].path == folder / "retransformer.yaml"
    err = capsys.readouterr().err.replace("\n", "")
    assert "zz-copy.yaml" in err and "already used by" in err and "retransformer.yaml" in err


def test_code_version_follows_declared_versions_not_source_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import inspect

    from seqbench.checkpoints import code_version
    from seqbench.models import MODEL_REGISTRY

    before = code_version("gru", "translation")
    assert before == "model1.family1"
    module = inspect.getmodule(MODEL_REGISTRY.get("gru").factory)
    monkeypatch.setattr(module, "VERSION", 2, raising=False)
    assert code_version("gru", "translation") == "model2.family1"
