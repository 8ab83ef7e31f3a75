"""The TaskFamily contract: families are discovered packages, a spec names only those, and the
shared prepare skeleton (overrides, caps, padding, fingerprint parts) behaves the same for all."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from seqbench.config import SourceSpec, family_names, load_task_spec
from seqbench.data.tokenize import PAD_ID
from seqbench.errors import SeqbenchError
from seqbench.families import discover
from seqbench.families.base import (
    FAMILY_REGISTRY,
    TRACE_SAMPLES,
    Prepared,
    family_named,
    pad_ids,
    run_spec,
    split_caps,
)

SPEC = (
    "name: t\nsource: {generator: scan}\ntokenizer: {}\nmetrics: [bleu]\n"
    "models: [gru]\npresets: {quick: {}}\n"
)


def test_every_family_package_registers_under_its_folder_name() -> None:
    discover()
    assert (
        family_names()
        == FAMILY_REGISTRY.names()
        == ["binding", "faces", "lm", "retrieval", "translation", "vqa"]
    )
    for name in family_names():
        family = FAMILY_REGISTRY.get(name)
        assert family.name == name
        assert type(family).__module__ == f"seqbench.families.{name}.family"


def test_a_spec_naming_an_unimplemented_family_fails_on_load(tmp_path: Path) -> None:
    path = tmp_path / "speech.yaml"
    path.write_text(SPEC + "family: speech\n", encoding="utf-8")
    with pytest.raises(
        SeqbenchError, match="unknown family 'speech'.*lm, retrieval, translation, vqa"
    ):
        load_task_spec(path)


def test_a_spec_with_an_unknown_preset_fails_on_load(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(SPEC.replace("{quick: {}}", "{quick: {}, huge: {}}") + "family: translation\n")
    with pytest.raises(SeqbenchError, match=r"unknown preset\(s\) \['huge'\].*tiny, quick, full"):
        load_task_spec(path)


def test_unknown_family_name_suggests_the_closest() -> None:
    with pytest.raises(SeqbenchError, match="did you mean 'retrieval'"):
        family_named("retreival")


def test_source_override_keeps_what_each_family_declares() -> None:
    spec_source = SourceSpec(
        hub="some/data",
        fields={"src": "de"},
        splits={"test": "validation"},
        options={"image_root": "/images"},
    )
    translation = family_named("translation").effective_source(spec_source, "local:/x.tsv")
    assert (translation.local, translation.fields, translation.splits, translation.options) == (
        "/x.tsv",
        {"src": "de"},
        {"test": "validation"},
        {},
    )
    # Retrieval's split mapping names hub splits: a local override names its own by file.
    retrieval = family_named("retrieval").effective_source(spec_source, "local:/x.jsonl")
    assert (retrieval.fields, retrieval.splits, retrieval.options) == (
        {"src": "de"},
        {},
        {"image_root": "/images"},
    )
    assert family_named("vqa").effective_source(spec_source, None) is spec_source


def test_trace_limit_is_part_of_the_contract() -> None:
    assert family_named("translation").trace_limit == TRACE_SAMPLES
    assert family_named("vqa").trace_limit == TRACE_SAMPLES
    assert family_named("retrieval").trace_limit is None  # the whole gallery


def test_split_caps_and_padding() -> None:
    # a test split is never capped (issue 13): max_eval caps dev only
    assert split_caps({"max_train": 10, "max_eval": 3}) == {"train": 10, "dev": 3, "test": None}
    padded = pad_ids([[5, 6, 7], [8], []])
    assert padded.dtype == torch.long
    assert padded.tolist() == [[5, 6, 7], [8, PAD_ID, PAD_ID], [PAD_ID, PAD_ID, PAD_ID]]
    assert pad_ids([[]]).shape == (1, 1)


def test_model_config_merges_preset_overrides_then_the_data(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        SPEC.replace(
            "{quick: {}}",
            "{quick: {model: {dropout: 0.3, hidden_dim: 8}, "
            "model_overrides: {gru: {hidden_dim: 16, src_vocab_size: 999}}}}",
        )
        + "family: translation\n",
        encoding="utf-8",
    )
    spec = load_task_spec(path)
    manifest = {"tokenizer": {"src": {"vocab_size": 20}, "tgt": {"vocab_size": 12}}}
    family = family_named("translation")
    prepared = Prepared(run_spec(spec, None, "quick"), tmp_path, manifest)
    config = family.model_config(prepared.run.with_model("gru"), prepared)
    # The data's vocabulary wins over a preset that names it: the model must fit the data.
    assert config == {
        "dropout": 0.3,
        "hidden_dim": 16,
        "src_vocab_size": 20,
        "tgt_vocab_size": 12,
        "pad_id": 0,
        "bos_id": 2,
        "eos_id": 3,
    }
    assert family.model_config(prepared.run.with_model("lstm"), prepared)["hidden_dim"] == 8


def test_fingerprint_parts_per_family() -> None:
    """Translation keys its caches by subset too (SCAN's split schemes are different data)."""
    assert family_named("translation").subset_in_fingerprint
    assert not family_named("vqa").subset_in_fingerprint
    assert not family_named("retrieval").subset_in_fingerprint
