"""``seqbench sweep``: a hardware design-space sweep over one profile's parameters."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from seqbench.cli.options import (
    check_device,
    check_executor_options,
    device_option,
    executor_options,
)
from seqbench.config import DEFAULT_PRESET, MAX_SEED, PRESETS


@click.command("sweep")
@click.option("--task", required=True, help="Task (NAME or NAME:SUBSET), e.g. scan.")
@click.option("--model", required=True, help="Model, e.g. transformer.")
@click.option("--accel", required=True, help="Base accelerator profile, e.g. retransformer.")
@click.option(
    "--set",
    "sets",
    multiple=True,
    required=True,
    metavar="PARAM=V1,V2",
    help="A swept parameter (as `seqbench accels show` names it) and its values, in the "
    "profile's unit; repeat for a grid.",
)
@click.option(
    "--preset",
    type=click.Choice(PRESETS),
    default=DEFAULT_PRESET,
    show_default=True,
    help="Size preset of the task (the checkpoint is trained with it when missing).",
)
@click.option(
    "--seed",
    type=click.IntRange(0, MAX_SEED),
    default=0,
    show_default=True,
    help="Checkpoint seed.",
)
@click.option(
    "--repeats",
    type=int,
    default=3,
    show_default=True,
    help="Noise seeds per point whose effects are stochastic (e.g. conductance_sigma > 0).",
)
@click.option("--effects-limit", type=int, help="Score only the first N test examples.")
@click.option("--metric", help="Quality metric of the summary (default: the task's primary).")
@click.option(
    "--min-quality",
    help="Quality floor for the best-energy point: 0.95x (of the quality "
    "without effects) or an absolute value.",
)
@click.option("--name", help="Sweep name (default TASK-MODEL-ACCEL); its state and outputs.")
@click.option(
    "--yes", is_flag=True, help="Run a grid of more than 1,000 design points without asking."
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    help="Folder that gets sweeps/NAME.md, .csv and plots (default: $SEQBENCH_HOME).",
)
@executor_options("cells", "Workers for --executor processes (CPUs of a local Ray).")
@click.option(
    "--retries", type=int, default=1, show_default=True, help="Retries of a cell whose worker died."
)
@device_option
def sweep_cmd(
    task: str,
    model: str,
    accel: str,
    sets: tuple[str, ...],
    preset: str,
    seed: int,
    repeats: int,
    effects_limit: int | None,
    metric: str | None,
    min_quality: str | None,
    name: str | None,
    out_dir: Path | None,
    executor: str,
    jobs: int,
    address: str | None,
    retries: int,
    yes: bool,
    device: str,
) -> None:
    """Sweep profile parameters; write a table, CSV, Pareto and effect plots.

    Every value is checked before any cell runs; rerunning the same command resumes.

    Example:

      seqbench sweep --task scan --model transformer --accel retransformer --preset quick
      --set adc.bits=4,6,8 --set crossbar.rows=64,128,256 --set nonideal.conductance_sigma=0,0.05
      --min-quality 0.95x
    """
    from seqbench import paths
    from seqbench.progress import console
    from seqbench.sweep import driver, summary
    from seqbench.sweep.grid import check_size

    if retries < 0:
        raise click.BadParameter(f"must be >= 0, got {retries}", param_hint="--retries")
    check_size(sets, yes)  # a huge grid asks for --yes before anything is loaded
    if effects_limit is not None and effects_limit < 1:
        raise click.BadParameter(f"must be >= 1, got {effects_limit}", param_hint="--effects-limit")
    summary.parse_floor(min_quality, 1.0)  # a malformed floor fails before any cell
    check_executor_options(executor, jobs, address)
    check_device(device)
    plan = driver.plan(
        task,
        model,
        accel,
        sets,
        preset=preset,
        name=name,
        seed=seed,
        repeats=repeats,
        effects_limit=effects_limit,
        device=device,
    )
    console.print(f"sweep [bold]{plan.name}[/]: {len(plan.cells)} cells; state in {plan.state}")
    host = driver.host_quality(plan)
    ran = driver.execute(plan, executor=executor, jobs=jobs, address=address, retries=retries)
    records = driver.load_records(plan)
    written = summary.write_outputs(
        plan,
        records,
        host,
        out_dir or paths.home(),
        metric=metric,
        min_quality=min_quality,
        command="seqbench " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
    )
    console.print(f"ran {ran} cell(s); wrote " + ", ".join(str(p) for p in written))
