"""The portable-model stages: ``export``, ``import`` and ``eval --checkpoint`` / ``--test-set``.

One mechanism serves all three: a checkpoint travels as a bundle (:mod:`seqbench.bundle`)
carrying its tokenizers and the prepared data's manifest, so it can be scored on the task's
data here (after checking that data is what it expects) or on an external test set read
test-only with the checkpoint's own tokenizer, answer list, image size and normalisation.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from seqbench import bundle, checkpoints, locks
from seqbench.accel.profile import resolve_profiles
from seqbench.atomic import atomic_dir
from seqbench.bundle_verify import EXPORT_FIX
from seqbench.config import DEFAULT_PRESET, TaskSpec, load_task
from seqbench.errors import SeqbenchError
from seqbench.evaluate import EvalRequest, Memo, _quality, run
from seqbench.families.base import Prepared, TaskFamily, family_for, run_spec
from seqbench.progress import console
from seqbench.train import plan_run

# Model-config keys that come from the prepared data: they must agree for a model to fit it.
DATA_CONFIG_KEYS = (
    "src_vocab_size",
    "tgt_vocab_size",
    "vocab_size",
    "question_vocab_size",
    "num_answers",
    "question_vector_size",
    "image_size",
)


@dataclasses.dataclass
class ModelAndData:
    """A checkpoint and the prepared data it is to be scored on."""

    checkpoint: checkpoints.Checkpoint
    prepared: Prepared
    spec: TaskSpec
    subset: str | None


def _local_checkpoint(
    ref: str, model: str, preset: str, seed: int
) -> tuple[TaskSpec, str | None, Prepared, checkpoints.Checkpoint]:
    spec, subset = load_task(ref)
    run = run_spec(spec, subset, preset, model, seed)
    prepared, _ = family_for(spec).prepare_run(run)
    found = checkpoints.find(plan_run(run, prepared).directory)
    if found is None:
        raise SeqbenchError(
            f"no checkpoint of {model!r} for {prepared.key} (preset {preset}, seed {seed})",
            f"train it first: `seqbench train {prepared.key} --model {model} --preset {preset}"
            f" --seed {seed}`",
        )
    return spec, subset, prepared, found


def export_model(ref: str, model: str, preset: str, seed: int, out: Path) -> Path:
    """Write the finished checkpoint of (task, model, preset, seed) as a bundle at ``out``."""

    bundle.check_out(Path(out))  # before the minutes of scoring, not after
    spec, _, prepared, checkpoint = _local_checkpoint(ref, model, preset, seed)
    family = family_for(spec)
    net = checkpoints.load_model(checkpoint)
    outcome = family.evaluate(net, prepared, "test")
    quality = {**_quality(outcome), "split": "test"}
    path = bundle.write_bundle(
        Path(out),
        checkpoint,
        prepared.directory,
        prepared.manifest,
        spec.raw,
        spec.family,
        quality,
    )
    console.print(
        f"exported {model} on {prepared.key} (test {outcome.primary} {outcome.score:.2f}, "
        f"weights {checkpoint.sha256[:12]}) to {path}"
    )
    return path


def _task_of(opened: bundle.Bundle, task: str | None) -> tuple[TaskSpec, str | None]:
    ref = task or opened.task
    try:
        return load_task(ref)
    except SeqbenchError as err:
        raise SeqbenchError(
            f"task {ref!r} of the checkpoint is not defined here ({err.message})",
            "pass --task with a task listed by `seqbench list tasks`",
        ) from err


def check_fits(opened: bundle.Bundle, family: TaskFamily, prepared: Prepared) -> None:
    """Fail plainly when the prepared data is not what the checkpoint was trained with."""
    manifest = opened.manifest
    if manifest["family"] != family.name:
        raise SeqbenchError(
            f"the checkpoint is a {manifest['family']} model ({manifest['model']} on "
            f"{manifest['task']}); {prepared.key} is a {family.name} task",
            f"evaluate it on a {manifest['family']} task",
        )
    if prepared.fingerprint == manifest["data_fingerprint"]:
        return
    run = prepared.run.with_model(opened.checkpoint.model_name)
    here = family.model_config(run, prepared)
    own = opened.checkpoint.config
    differ = [
        f"{key} {here[key]} here vs {own[key]} in the checkpoint"
        for key in DATA_CONFIG_KEYS
        if key in here and key in own and here[key] != own[key]
    ]
    if differ:
        raise SeqbenchError(
            f"{prepared.key} does not fit the checkpoint: different vocabulary or input size "
            f"({'; '.join(differ)})",
            "score it on its own task's data, or on an external set with --test-set",
        )
    tokenizers = bundle.differing_tokenizers(opened.data_dir, prepared.directory)
    if tokenizers:
        raise SeqbenchError(
            f"{prepared.key} is tokenized differently from the checkpoint's data "
            f"({', '.join(tokenizers)} differ)",
            "use --test-set to read the data with the checkpoint's own tokenizer",
        )
    answers = opened.data_manifest.get("answers")
    if answers is not None and answers != prepared.manifest.get("answers"):
        raise SeqbenchError(
            f"{prepared.key} has a different answer list from the checkpoint's",
            "use --test-set to read the data with the checkpoint's own answer list",
        )


def model_and_data(
    path: Path,
    *,
    task: str | None = None,
    preset: str | None = None,
    test_set: str | None = None,
) -> ModelAndData:
    """Open the bundle at ``path`` and the data to score it on (checked to fit)."""
    opened = bundle.open_bundle(path)
    spec, subset = _task_of(opened, task)
    family = family_for(spec)
    preset = preset or str(opened.manifest["preset"])
    if test_set:
        if opened.manifest["family"] != family.name:
            raise SeqbenchError(
                f"the checkpoint is a {opened.manifest['family']} model, not {family.name}",
                f"pass a {opened.manifest['family']} --task",
            )
        prepared = family.prepare_test_set(
            run_spec(spec, subset, preset),
            family.effective_source(spec.source, test_set),
            opened.data_dir,
            opened.data_manifest,
        )
    else:
        prepared, _ = family.prepare(spec, subset, preset)
        check_fits(opened, family, prepared)
    return ModelAndData(opened.checkpoint, prepared, spec, subset)


def _bundle_stage(stage: Callable[..., Any]) -> Callable[..., Any]:
    """A stage given a bundle ``path`` (first argument) leaves no copy of it under
    ``models/`` when it fails (the data does not fit, the model fails when run), and a model
    that built but fails when run is one line naming the bundle, not a torch exception."""

    @functools.wraps(stage)
    def guarded(path: Path | None, *args: Any, **kwargs: Any) -> Any:
        if path is None:
            return stage(path, *args, **kwargs)
        with bundle.removed_on_failure():
            try:
                return stage(path, *args, **kwargs)
            except (SeqbenchError, KeyboardInterrupt, MemoryError, OSError):
                raise
            except (RuntimeError, ValueError, TypeError, IndexError, ZeroDivisionError) as err:
                first = str(err).splitlines()[0] if str(err) else ""
                raise SeqbenchError(
                    f"the model of {path} fails when run ({type(err).__name__}: {first})",
                    f"its config.json may be altered: {EXPORT_FIX}; else rerun with --debug",
                ) from err

    return guarded


def _broken(checkpoint: checkpoints.Checkpoint) -> str:
    """Why ``checkpoint`` cannot be loaded ('' when it can): damaged weights, or a config
    that does not build its model."""
    try:
        checkpoints.verify(checkpoint)
        checkpoints.check_loadable(checkpoint)
    except SeqbenchError as err:
        return f"{checkpoint.directory} holds a broken checkpoint ({err.message})"
    return ""


@_bundle_stage
def import_model(path: Path, *, force: bool = False) -> Path:
    """Make the bundle at ``path`` this home's checkpoint of its (task, model, preset, seed)."""
    opened = bundle.open_bundle(path)
    manifest = opened.manifest
    spec, subset = _task_of(opened, None)
    family = family_for(spec)
    prepared, _ = family.prepare(spec, subset, str(manifest["preset"]))
    if prepared.fingerprint != manifest["data_fingerprint"]:
        raise SeqbenchError(
            f"{prepared.key} ({manifest['preset']}) prepares here as data "
            f"{prepared.fingerprint[:8]}, the checkpoint was trained on "
            f"{str(manifest['data_fingerprint'])[:8]} (another seqbench version or task spec)",
            f"score it without importing: `seqbench eval --checkpoint {path}`",
        )
    check_fits(opened, family, prepared)
    checkpoints.load_model(opened.checkpoint)  # it loads here before it is filed as a run
    # Where `train` and `eval` of this home look for (task, model, preset, seed).
    run = prepared.run.with_model(str(manifest["model"]), int(manifest["seed"]))
    target = plan_run(run, prepared).directory
    with locks.hold(target, f"checkpoint {target}", say=console):
        existing = checkpoints.find(target)
        broken = existing is not None and _broken(existing)
        if broken:
            console.print(f"[yellow]warning:[/] {broken}; replacing it with the imported one")
        elif existing is not None and existing.sha256 == opened.checkpoint.sha256:
            console.print(f"already imported: {target}")
            return target
        elif existing is not None and not force:
            raise SeqbenchError(
                f"{target} holds another checkpoint (weights {existing.sha256[:12]})",
                "pass --force to replace it with the imported one",
            )
        # The whole folder is swapped in one step: weights and config.json always match.
        with atomic_dir(target) as staging:
            for name in ("model.safetensors", "train_log.jsonl"):
                shutil.copyfile(opened.directory / name, staging / name)
            info = dict(opened.checkpoint.info)
            info["origin"] = opened.origin
            (staging / "config.json").write_text(json.dumps(info, indent=2, sort_keys=True))
    console.print(
        f"imported {manifest['model']} on {prepared.key} ({manifest['preset']}, seed "
        f"{manifest['seed']}, weights {opened.checkpoint.sha256[:12]}) as {target}"
    )
    return target


@_bundle_stage
def eval_checkpoint(
    path: Path | None,
    *,
    task: str | None = None,
    model: str | None = None,
    preset: str | None = None,
    test_set: str | None = None,
    split: str = "test",
    beam: int = 1,
    accels: str = "cpu",
    seed: int | None = None,
    limit: int | None = None,
    effects_limit: int | None = None,
    device: str = "auto",
    memo: Memo | None = None,
) -> list[dict[str, Any]]:
    """Score the bundle at ``path`` (or this home's checkpoint of ``task``/``model``) on its
    task's data or on ``test_set``, under each profile, on ``device``; returns the records.
    ``memo``: earlier measurements to reuse (none: all measured afresh)."""

    resolve_profiles(accels)
    if path is not None:
        found = model_and_data(path, task=task, preset=preset, test_set=test_set)
    else:
        if not (task and model):
            raise SeqbenchError("eval needs --task and --model, or --checkpoint PATH", "")
        spec, subset, prepared, checkpoint = _local_checkpoint(
            task, model, preset or DEFAULT_PRESET, 0 if seed is None else seed
        )
        if test_set:
            prepared = family_for(spec).prepare_test_set(
                prepared.run,
                family_for(spec).effective_source(spec.source, test_set),
                prepared.directory,
                prepared.manifest,
            )
        found = ModelAndData(checkpoint, prepared, spec, subset)
    if test_set and split != "test":
        raise SeqbenchError(f"an external test set has only a test split, not {split!r}", "")
    run_seed = int(found.checkpoint.info.get("seed", 0)) if seed is None else seed
    request = EvalRequest(
        run=found.prepared.run.with_model(found.checkpoint.model_name, run_seed).on(device),
        split=split,
        beam=beam,
        accels=accels,
        limit=limit,
        effects_limit=effects_limit,
    )
    return run(request, prepared=found.prepared, checkpoint=found.checkpoint, memo=memo)
