"""The one run spec: options reach what reads them, unknown ones are refused with file and
key; one scoring path gives sweep and eval records of the same shape; `run` finishes a cell
only on records of the run identity it would train now."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from seqbench import paths
from seqbench.config import load_task
from seqbench.errors import SeqbenchError
from seqbench.families.base import family_for, run_spec
from seqbench.families.translation.family import TranslationFamily


@pytest.fixture()
def tasks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the bundled task folder the test may edit, and an empty home."""
    folder = tmp_path / "tasks"
    shutil.copytree(paths.tasks_dir(), folder)
    monkeypatch.setenv("SEQBENCH_TASKS", str(folder))
    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SEQBENCH_QUIET", "1")
    return folder


def edit_preset(folder: Path, task: str, preset: str, **changes: Any) -> None:
    """Merge ``changes`` into ``presets.<preset>`` of ``folder/<task>.yaml``."""
    path = folder / f"{task}.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["presets"][preset].update(changes)
    path.write_text(yaml.safe_dump(spec))


def small_scan(folder: Path, **train: Any) -> None:
    """scan's tiny preset cut to one quick model (rnn) on 96 pairs."""
    path = folder / "scan.yaml"
    spec = yaml.safe_load(path.read_text())
    tiny = spec["presets"]["tiny"]
    tiny.update(models=["rnn"], max_train=96, max_eval=10, test_limit=8)
    tiny["train"].update(eval_limit=10, **train)
    path.write_text(yaml.safe_dump(spec))


def test_a_per_model_label_smoothing_override_reaches_the_loss(
    tasks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_scan(tasks)
    edit_preset(tasks, "scan", "tiny", train_overrides={"rnn": {"label_smoothing": 0.3}})
    seen: list[float] = []
    loss = TranslationFamily.loss

    def spy(self: TranslationFamily, model: Any, batch: Any) -> Any:
        seen.append(batch.label_smoothing)
        return loss(self, model, batch)

    monkeypatch.setattr(TranslationFamily, "loss", spy)
    from seqbench.stages import train_task

    info = train_task("scan", "rnn", "tiny").checkpoint.info
    assert seen and set(seen) == {0.3}
    assert info["train_options"]["label_smoothing"] == 0.3
    # Another model of the same preset keeps the preset's own (none: 0).
    spec, subset = load_task("scan")
    gru = run_spec(spec, subset, "tiny", "gru")
    prepared, _ = family_for(spec).prepare_run(gru)
    batch = next(family_for(spec).batches(prepared, "train", 8, shuffle=True, seed=0, run=gru))
    assert batch.label_smoothing == 0.0


def test_questions_per_image_set_in_a_preset_changes_the_batches(tasks: Path) -> None:
    spec, subset = load_task("sort-of-clevr")
    family = family_for(spec)
    prepared, _ = family.prepare(spec, subset, "tiny")
    tiny = spec.presets["tiny"]
    grouped = dataclasses.replace(
        spec,
        presets={
            **spec.presets,
            "tiny": {**tiny, "train": {**tiny["train"], "questions_per_image": 1}},
        },
    )
    run = run_spec(grouped, subset, "tiny", "rn")  # accepted: the vqa family declares it
    assert run.train.get("questions_per_image") == 1

    def images_per_batch(run_: Any) -> list[int]:
        batches = family.batches(prepared, "train", 32, shuffle=True, seed=1, run=run_)
        return [len(b.images) for b in batches]

    # One question per image: a batch holds as many images as questions, unlike the default 4.
    one = images_per_batch(run)
    four = images_per_batch(prepared.run.with_model("rn"))
    assert one != four and sum(one) > sum(four)


def test_an_unknown_training_option_is_refused_with_file_and_key(tasks: Path) -> None:
    edit_preset(tasks, "scan", "tiny", train={"epochz": 3})
    spec, subset = load_task("scan")
    with pytest.raises(SeqbenchError) as err:
        run_spec(spec, subset, "tiny", "rnn")
    assert "task spec scan.yaml (preset tiny): unknown training option 'epochz'" in str(
        err.value.message
    )
    # An option another family declares is no option of this one.
    edit_preset(tasks, "scan", "tiny", train={"questions_per_image": 2})
    spec, subset = load_task("scan")
    with pytest.raises(SeqbenchError, match="unknown training option 'questions_per_image'"):
        run_spec(spec, subset, "tiny", "rnn")


def test_a_sweep_record_and_an_eval_record_of_the_same_cell_agree(tasks: Path) -> None:
    from seqbench.accel.profile import load_named
    from seqbench.stages import eval_task
    from seqbench.sweep import driver

    small_scan(tasks)
    bits = load_named("retransformer").params["adc.bits"].raw
    sweep = driver.plan(
        "scan", "rnn", "retransformer", [f"adc.bits={bits}"], preset="tiny", effects_limit=4
    )
    host = driver.host_quality(sweep)
    assert driver.execute(sweep) == 1
    (cell,) = driver.load_records(sweep)
    (stage,) = eval_task("scan", "rnn", "tiny", accels="retransformer", limit=4, effects_limit=4)
    assert set(cell) - {"path"} == set(stage) - {"path"}
    assert set(cell["checkpoint"]) == set(stage["checkpoint"])
    assert cell["quality"]["metrics"] == stage["quality"]["metrics"]
    assert cell["quality_host"]["metrics"] == stage["quality_host"]["metrics"] == host["metrics"]
    assert cell["checkpoint"]["identity"] == stage["checkpoint"]["identity"]
    assert stage["sweep"] is None and cell["sweep"]["overrides"] == {"adc.bits": bits}


def test_run_reruns_a_cell_after_its_presets_epochs_change_and_skips_it_otherwise(
    tasks: Path, tmp_path: Path
) -> None:
    from seqbench.stages import run_suite

    def run() -> int:
        ran: list[Any] = []
        run_suite(["scan"], "tiny", accels="cpu", out_dir=tmp_path / "out", on_records=ran.append)
        return len(ran)

    small_scan(tasks, epochs=1)
    assert run() == 1
    assert run() == 0  # unchanged: finished
    small_scan(tasks, epochs=2)
    assert run() == 1  # the preset trains longer now: the old records do not finish it
    assert run() == 0


def test_only_the_resolver_reads_a_preset() -> None:
    """Every other module takes the run spec: a second reader of a raw preset is how an option
    came to be checked in one place and read from another."""
    import ast

    package = Path(__file__).resolve().parents[1] / "seqbench"
    readers = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "preset"
    )
    assert readers == ["families/runspec.py"]


def count_evaluations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The splits every ``TranslationFamily.evaluate`` call from now on scores, in order."""
    calls: list[str] = []
    original = TranslationFamily.evaluate

    def counted(self: TranslationFamily, *args: Any, **kwargs: Any) -> Any:
        calls.append(args[2] if len(args) > 2 else kwargs.get("split", ""))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(TranslationFamily, "evaluate", counted)
    return calls


def test_effects_that_touch_none_of_the_models_ops_reuse_the_host_score(
    tasks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ICE's search effect on a translation model: one decode (the host's), and the record
    says its quality was not re-scored; a crossbar profile still re-scores."""
    from seqbench.stages import eval_task

    small_scan(tasks)
    eval_task("scan", "rnn", "tiny", accels="cpu", limit=4)  # trains the checkpoint
    calls = count_evaluations(monkeypatch)
    (ice,) = eval_task("scan", "rnn", "tiny", accels="ice", limit=4)
    assert len(calls) == 1  # the host score only
    assert ice["effects"] == ["NandSimilarityEffect"] and ice["effects_rescored"] is False
    assert ice["quality"] == ice["quality_host"] and ice["quality_host_same_n"] is None
    (isaac,) = eval_task("scan", "rnn", "tiny", accels="isaac", limit=4)
    assert len(calls) == 3  # host, then under the crossbar
    assert isaac["effects_rescored"] is True


def test_profiles_with_the_same_effects_arithmetic_share_one_re_score(
    tasks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ISAAC's and PipeLayer's crossbars resolve every column sum (16-bit inputs and weights
    both): one eval scores the function once for both, and the shared quality is what
    PipeLayer scores alone."""
    from seqbench.stages import eval_task

    small_scan(tasks)
    (alone,) = eval_task("scan", "rnn", "tiny", accels="pipelayer", limit=4)
    assert alone["effects_shared_with"] is None
    calls = count_evaluations(monkeypatch)
    isaac, pipelayer = eval_task("scan", "rnn", "tiny", accels="isaac,pipelayer", limit=4)
    assert len(calls) == 2  # the host, then one re-score under the shared arithmetic
    assert isaac["effects_shared_with"] is None
    assert pipelayer["effects_shared_with"] == "isaac" and pipelayer["effects_rescored"]
    assert pipelayer["quality"] == isaac["quality"] == alone["quality"]
    assert pipelayer["simulated"] != isaac["simulated"]  # the costs stay each profile's own


def test_function_keys_tell_apart_what_changes_the_arithmetic() -> None:
    """Equal keys only where the arithmetic is the same: a coarser ADC, other bit widths or
    noise give a different key or none."""
    from seqbench.accel.effects import effect_hooks, function_key
    from seqbench.accel.profile import load_named
    from seqbench.sweep import grid

    isaac = load_named("isaac")
    key = function_key(effect_hooks(isaac))
    assert key == function_key(effect_hooks(load_named("pipelayer")))
    assert function_key(effect_hooks(grid.derive(isaac, {"precision.input_bits": 8}))) != key
    assert function_key(effect_hooks(grid.derive(isaac, {"adc.bits": 4}))) is None
    noisy = grid.derive(load_named("pipelayer"), {"nonideal.conductance_sigma": 0.05})
    assert function_key(effect_hooks(noisy)) is None
    assert function_key(effect_hooks(load_named("multcim"))) != key
