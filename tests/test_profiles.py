"""Profiles: the five bundled ones load with provenance; bad ones fail with a clear message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from seqbench import paths
from seqbench.accel import profile as profile_mod
from seqbench.accel import units
from seqbench.accel.profile import list_profiles, load_profile, resolve_profiles
from seqbench.cli.accels import accels
from seqbench.errors import SeqbenchError

BUNDLED = Path(paths.accelerators_dir())


@pytest.fixture(autouse=True)
def fake_host(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path))
    profile_mod._CACHE.clear()
    yield
    profile_mod._CACHE.clear()


def test_profiles_with_citations_and_assumed_counts():
    profiles = list_profiles()
    assert set(profiles) == {
        "cpu",
        "pipelayer",
        "retransformer",
        "multcim",
        "ice",
        "gtx-1080",
        "titan-rtx",
        "edge-cpu",
        "isaac",
    }
    for p in profiles.values():
        assert p.doi.startswith("10.") and p.citation and p.title
        assert len(p.assumed_parameters()) == p.declared_assumed
        assert len(p.hash) == 16
        for param in p.params.values():
            assert param.assumed or param.source
            if param.assumed:
                assert param.why


def test_resolve_names_aliases_lists_and_all():
    assert [p.name for p in resolve_profiles("reretransformer")] == ["retransformer"]
    assert [p.name for p in resolve_profiles("cpu, ice,cpu")] == ["cpu", "ice"]
    assert len(resolve_profiles("all")) == 9
    with pytest.raises(SeqbenchError, match="did you mean 'multcim'"):
        resolve_profiles("multcin")


def test_units_convert_to_si():
    assert units.to_si(1.67, "pJ") == pytest.approx(1.67e-12)
    assert units.to_si(1.2, "GS/s") == pytest.approx(1.2e9)
    assert units.to_si(20, "pJ/B") == pytest.approx(2.5e-12)
    assert units.dimension("ns") == "time" and units.dimension("furlong") is None


def test_parameter_dimension_is_checked_on_use():
    p = load_profile(BUNDLED / "pipelayer.yaml")
    with pytest.raises(SeqbenchError, match="adc.energy is in pJ .energy., expected a time"):
        p.get("adc.energy", "time")
    with pytest.raises(SeqbenchError, match="lacks parameter 'adc.volume'"):
        p.get("adc.volume", "energy")


# --- bad profiles ---------------------------------------------------------------------------


def _variant(tmp_path: Path, edit) -> Path:  # noqa: ANN001
    text = (BUNDLED / "pipelayer.yaml").read_text()
    path = tmp_path / "bad.yaml"
    path.write_text(edit(text))
    return path


def _fails(tmp_path: Path, edit, pattern: str) -> None:  # noqa: ANN001
    with pytest.raises(SeqbenchError, match=pattern) as info:
        load_profile(_variant(tmp_path, edit))
    assert "\n" not in str(info.value)  # one line for the CLI


def test_missing_field_rejected(tmp_path):
    _fails(
        tmp_path, lambda t: re.sub(r"^doi:.*\n", "", t, flags=re.M), r"lacks field\(s\) \['doi'\]"
    )


def test_old_energy_per_byte_name_refused_with_the_new_one(tmp_path):
    """The key was renamed for its unit (pJ/bit); the old spelling names the fix in one line."""
    with pytest.raises(
        SeqbenchError,
        match=r"processor.energy_per_byte is now "
        r"processor.energy_per_bit.*rename `energy_per_byte:`",
    ) as info:
        text = (BUNDLED / "cpu.yaml").read_text().replace("energy_per_bit:", "energy_per_byte:")
        path = tmp_path / "old.yaml"
        path.write_text(text)
        load_profile(path)
    assert "\n" not in str(info.value)


def test_negative_energy_rejected(tmp_path):
    _fails(
        tmp_path,
        lambda t: t.replace("energy: {value: 1.67,", "energy: {value: -1.67,"),
        r"adc.energy is negative \(-1.67 pJ\)",
    )


def test_unknown_unit_rejected(tmp_path):
    _fails(
        tmp_path,
        lambda t: t.replace("energy: {value: 1.67, unit: pJ", "energy: {value: 1.67, unit: pj"),
        r"adc.energy has unknown unit 'pj'; did you mean 'pJ'\?",
    )


def test_wrong_dimension_for_mapping_rejected(tmp_path):
    _fails(
        tmp_path,
        lambda t: t.replace(
            "read_latency: {value: 100, unit: ns", "read_latency: {value: 100, unit: pJ"
        ),
        r"crossbar.read_latency is in pJ \(energy\); 'crossbar' needs a time",
    )


def test_parameter_missing_for_mapping_rejected(tmp_path):
    _fails(
        tmp_path,
        lambda t: re.sub(r"^    sample_rate:.*\n", "", t, flags=re.M),
        r"mapping 'crossbar' needs parameter 'adc.sample_rate', which is missing",
    )


def test_unsourced_parameter_rejected(tmp_path):
    _fails(
        tmp_path,
        lambda t: t.replace(', source: "ISAAC ISCA\'16 Table 1"}', "}", 1),
        r"has neither a source nor `assumed: true`",
    )


def test_assumed_count_must_match(tmp_path):
    _fails(
        tmp_path,
        lambda t: t.replace("assumed_count: 5", "assumed_count: 3"),
        r"declares assumed_count 3 but marks 5",
    )


def test_unknown_mapping_kind_and_op_class_rejected(tmp_path):
    _fails(
        tmp_path,
        lambda t: t.replace("matmul_static: crossbar,", "matmul_static: crosbar,"),
        r"unknown mapping kind 'crosbar'; did you mean 'crossbar'\?",
    )
    _fails(
        tmp_path,
        lambda t: t.replace("matmul_static: crossbar,", "matmul_statik: crossbar,"),
        r"unknown op class 'matmul_statik'",
    )


def test_unknown_field_and_effect_rejected(tmp_path):
    _fails(tmp_path, lambda t: t + "colour: blue\n", r"unknown field\(s\) \['colour'\]")
    _fails(
        tmp_path,
        lambda t: t.replace("effects: [crossbar_adc]", "effects: [crossbar_adk]"),
        r"unknown effect 'crossbar_adk'",
    )


# --- CLI ------------------------------------------------------------------------------------


def test_cli_show_lists_sources_and_assumed_parameters():
    result = CliRunner().invoke(accels, ["show", "reretransformer"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "10.1145/3400302.3415640" in result.output
    assert "13 of 46 parameters assumed" in result.output
    assert "ISAAC ISCA'16 Table 1" in result.output and "ASSUMED" in result.output


def test_cli_list_and_help():
    result = CliRunner().invoke(accels, ["list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "multcim" in result.output and "6 / 16" in result.output
    assert "seqbench accels validate" in CliRunner().invoke(accels, ["--help"]).output


def test_vocabularies_come_from_one_place():
    """Op classes from ops.OpClass; effects and mapping kinds from their registries, which
    every profile's names resolve in."""
    from seqbench.accel import effects as effects_mod
    from seqbench.accel.mappings import MAPPINGS
    from seqbench.ops import OpClass

    assert profile_mod.OP_CLASSES == tuple(c.value for c in OpClass)
    for p in list_profiles().values():
        assert set(p.mapping) <= set(profile_mod.OP_CLASSES)
        for name in p.effects:
            assert name in effects_mod.EFFECTS
        for kind in p.mapping.values():
            assert kind in MAPPINGS
    assert {"crossbar", "digital_cim", "nand_search", "roofline", "vector"} <= set(MAPPINGS)
    hooks = effects_mod.effect_hooks(load_profile(BUNDLED / "multcim.yaml"), seed=0)
    assert [type(h).__name__ for h in hooks] == ["DigitalQuantEffect", "SoftmaxEffect"]
