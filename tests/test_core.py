"""Registries, task specs, atomic writes and the prepare cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqbench.atomic import atomic_dir, write_json
from seqbench.config import SourceSpec, load_task, load_task_spec
from seqbench.data import cache
from seqbench.errors import SeqbenchError
from seqbench.registry import Registry


def test_registry_did_you_mean_and_aliases() -> None:
    reg: Registry[int] = Registry("profile")
    reg.add("retransformer", 1, aliases=("reretransformer",))
    reg.add("pipelayer", 2)
    assert reg.get("reretransformer") == 1
    with pytest.raises(SeqbenchError) as info:
        reg.get("pipelayr")
    assert "did you mean 'pipelayer'" in str(info.value)
    assert "known profiles" in str(info.value)


def test_unknown_task_suggests_the_closest() -> None:
    with pytest.raises(SeqbenchError, match="did you mean 'scan'"):
        load_task("scna")


def test_unknown_subset_is_rejected() -> None:
    with pytest.raises(SeqbenchError, match="no subset"):
        load_task("scan:lenght")


def _write_spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "t.yaml"
    path.write_text(text)
    return path


def test_task_spec_missing_field(tmp_path: Path) -> None:
    path = _write_spec(tmp_path, "name: t\nfamily: translation\n")
    with pytest.raises(SeqbenchError, match="lacks"):
        load_task_spec(path)


def test_task_spec_unknown_family_and_field(tmp_path: Path) -> None:
    base = (
        "name: t\nsource: {generator: scan}\ntokenizer: {}\nmetrics: [bleu]\n"
        "models: [gru]\npresets: {quick: {}}\n"
    )
    with pytest.raises(SeqbenchError, match="did you mean 'translation'"):
        load_task_spec(_write_spec(tmp_path, base + "family: translaton\n"))
    with pytest.raises(SeqbenchError, match="unknown field"):
        load_task_spec(_write_spec(tmp_path, base + "family: translation\nepochs: 3\n"))


def test_malformed_yaml(tmp_path: Path) -> None:
    with pytest.raises(SeqbenchError, match="cannot read task spec"):
        load_task_spec(_write_spec(tmp_path, "name: [unclosed\n"))


def test_source_from_cli() -> None:
    assert SourceSpec.from_cli("local:/data/fra.txt").local == "/data/fra.txt"
    hub = SourceSpec.from_cli("hub:wmt/wmt14:de-en")
    assert (hub.hub, hub.hub_config) == ("wmt/wmt14", "de-en")
    with pytest.raises(SeqbenchError):
        SourceSpec.from_cli("ftp:x")


def test_atomic_dir_leaves_nothing_when_interrupted(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "half").write_text("x")
            raise RuntimeError("killed")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_cache_verify_detects_tampering(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path))
    directory = cache.task_cache_dir("scan:simple", cache.fingerprint({"a": 1}))

    def writer(tmp: Path) -> dict:
        (tmp / "train.txt").write_text("walk\tI_WALK\n")
        return {"fingerprint": "x", "splits": {"train": 1}}

    manifest = cache.build(directory, writer)
    assert cache.verify(directory) == manifest
    (directory / "train.txt").write_text("walk\tI_RUN\n")
    assert cache.verify(directory) is None
    write_json(directory / "manifest.json", {"no": "files"})
    assert cache.verify(directory) is None
    (directory / "manifest.json").write_text("{broken")
    assert cache.verify(directory) is None
    assert [e["valid"] for e in cache.entries()] == [False]


def test_fingerprint_is_stable_and_sensitive() -> None:
    a = cache.fingerprint({"source": "scan", "vocab": 32})
    assert a == cache.fingerprint({"vocab": 32, "source": "scan"})
    assert a != cache.fingerprint({"source": "scan", "vocab": 33})
    assert json.loads(json.dumps(a)) == a
