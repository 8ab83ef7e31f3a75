"""The ``seqbench`` command: one small function per command, no logic beyond arguments.

Heavy imports (torch, datasets) happen inside the commands so ``--help`` stays instant.
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from seqbench import __version__
from seqbench.allocator import keep_freed_memory
from seqbench.cli.options import (
    check_device,
    check_executor_options,
    device_option,
    executor_options,
)
from seqbench.config import DEFAULT_PRESET, MAX_SEED, PRESETS
from seqbench.errors import SeqbenchError

# Piped output (logs, CI) gets wide tables instead of Rich's 80-column default.
out = Console(width=None if Console().is_terminal else 160)
err = Console(stderr=True, width=None if Console(stderr=True).is_terminal else 160)

PRESET = click.option(
    "--preset",
    type=click.Choice(PRESETS),
    default=DEFAULT_PRESET,
    show_default=True,
    help="Size preset from the task spec (tiny: tests, quick: demo, full: leaderboard).",
)
SEED_RANGE = click.IntRange(0, MAX_SEED)
SEED = click.option("--seed", type=SEED_RANGE, default=0, show_default=True, help="Random seed.")


class SeqbenchGroup(click.Group):
    """Prints user errors as one line (exit 2) and hides tracebacks unless --debug."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except SeqbenchError as error:
            if _debug(ctx):
                raise
            err.print(f"[bold red]error:[/] {error}", markup=True, highlight=False, soft_wrap=True)
            sys.exit(2)
        except KeyboardInterrupt:
            err.print("interrupted: finished steps are kept; run the same command to resume")
            sys.exit(130)
        except Exception as error:  # noqa: BLE001  (the last line of defence for users)
            if _debug(ctx):
                raise
            if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
                where = error.filename or "a file under $SEQBENCH_HOME"
                err.print(
                    f"[bold red]error:[/] disk full while writing {where}; nothing finished was "
                    "lost — free space there (or set SEQBENCH_HOME to a roomier disk) and run "
                    "the same command again",
                    highlight=False,
                    soft_wrap=True,
                )
                sys.exit(2)
            err.print(
                f"[bold red]error:[/] {type(error).__name__}: {error} "
                "(rerun with `seqbench --debug ...` for the traceback)",
                highlight=False,
                soft_wrap=True,
            )
            sys.exit(1)


def _debug(ctx: click.Context) -> bool:
    root = ctx.find_root()
    return bool((root.obj or {}).get("debug")) or os.environ.get("SEQBENCH_DEBUG") == "1"


@click.group(cls=SeqbenchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.option(
    "--threads",
    type=int,
    envvar="SEQBENCH_THREADS",
    default=1,
    show_default=True,
    help="Torch threads per process. The reference models are small: one thread is fastest "
    "per core; use `run --executor processes` to use more cores.",
)
@click.option(
    "--follow-links",
    is_flag=True,
    help="Read files that a local source's folder links to outside it (a folder of links "
    "made on purpose); without it such links, absolute paths and .. are refused.",
)
@click.version_option(__version__, prog_name="seqbench")
@click.pass_context
def cli(ctx: click.Context, debug: bool, threads: int, follow_links: bool) -> None:
    """Benchmark sequence and multimodal models: quality, speed and energy on accelerators.

    \b
    Example:
      seqbench run --preset quick      # prepare, train, eval and report the embedded default
      seqbench eval --task scan --model transformer --accel all
    """
    ctx.obj = {"debug": debug}
    if threads < 1:
        raise click.BadParameter(f"must be >= 1, got {threads}", param_hint="--threads")
    set_threads(threads)
    keep_freed_memory()
    if follow_links:  # an environment variable, so worker processes inherit it
        from seqbench.data.inside import FOLLOW_LINKS_ENV

        os.environ[FOLLOW_LINKS_ENV] = "1"
    _remove_stale_temps()


def _remove_stale_temps() -> None:
    """Temp files and folders of killed seqbench processes go at the next start."""
    from seqbench import paths
    from seqbench.atomic import remove_stale_temps

    for folder in (
        paths.cache_dir(),
        paths.runs_dir(),
        paths.results_dir(),
        paths.home() / "leaderboards",
        paths.home() / "models",
    ):
        remove_stale_temps(folder)


def set_threads(threads: int) -> None:
    """Pin torch's intra-op threads (before torch is imported when possible)."""
    threads = max(1, threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


# --- list ---------------------------------------------------------------------------------


@cli.command("list")
@click.argument("what", type=click.Choice(["tasks", "models", "accels"]))
def list_cmd(what: str) -> None:
    """List tasks, models or accelerator profiles.

    \b
    Example:
      seqbench list tasks
    """
    from seqbench.cli import listing

    listing.render(what, out)


# --- prepare ------------------------------------------------------------------------------


@cli.command()
@click.argument("tasks", nargs=-1)
@PRESET
@click.option(
    "--source",
    help="The task's data source from now on: local:PATH[::FORMAT] or hub:ID[:CONFIG]. "
    "Written to $SEQBENCH_HOME/tasks/TASK.yaml, which train, eval and run then read too.",
)
@click.option("--force", is_flag=True, help="Rebuild even when a valid cache exists.")
def prepare(tasks: tuple[str, ...], preset: str, source: str | None, force: bool) -> None:
    """Build, tokenize and cache task data (default: scan).

    A folder of published files prepares as it is: Moses train/val/test_2016_flickr.de.gz
    + .en.gz (Multi30k), split files train/valid/test .tsv|.jsonl|.parquet, SCAN tasks_*.txt.

    \b
    Examples:
      seqbench prepare scan:length --preset full
      seqbench prepare multi30k --preset full --source local:../shared/data/multi30k
    """
    from seqbench.stages import prepare_task

    for ref in tasks or ("scan",):
        prepared, cached = prepare_task(ref, preset, source=source, force=force)
        sizes = ", ".join(f"{k} {v:,}" for k, v in _split_sizes(prepared.manifest).items())
        state = "cached, nothing to do" if cached else "prepared"
        out.print(f"{prepared.key} ({preset}): {state} — {sizes}", highlight=False)
        for line in _vocab_lines(prepared.manifest) + _dropped_lines(prepared.manifest):
            out.print(line, highlight=False)
        out.print(f"  {prepared.directory}", highlight=False)


def _vocab_lines(manifest: dict[str, Any]) -> list[str]:
    """Vocabulary sizes per tokenizer, with a warning when one came out smaller than asked."""
    tokenizer = manifest.get("tokenizer")
    if not isinstance(tokenizer, dict):
        return []
    lines, sizes = [], []
    for side, entry in tokenizer.items():
        if not (isinstance(entry, dict) and "vocab_size" in entry):
            continue
        got, asked = int(entry["vocab_size"]), entry.get("asked")
        sizes.append(f"{side} {got:,}" + (f" of {int(asked):,} asked" if asked else ""))
        if asked and got < int(asked):
            lines.append(
                f"  [yellow]warning:[/] the {side} tokenizer has {got:,} pieces, fewer than the "
                f"{int(asked):,} asked: its train text holds no more (lower the vocab size in "
                "the spec's tokenizer: to silence this)"
            )
    return ([f"  vocabulary: {', '.join(sizes)}"] if sizes else []) + lines


def _dropped_lines(manifest: dict[str, Any]) -> list[str]:
    """What the preset's ``max_length`` removed from train, so its size is not a surprise."""
    dropped = int(manifest.get("dropped_long_train_pairs") or 0)
    if not dropped:
        return []
    limit = manifest.get("data_options", {}).get("max_length")
    longer = f"longer than {limit} tokens" if limit else "over the preset's max_length"
    return [f"  train: {dropped:,} pair(s) {longer} dropped (the preset's max_length)"]


def _split_sizes(manifest: dict[str, Any]) -> dict[str, int]:
    sizes = {}
    for name, entry in manifest.get("splits", {}).items():
        sizes[name] = int(entry.get("size", 0) if isinstance(entry, dict) else entry)
    return sizes


# --- train --------------------------------------------------------------------------------


@cli.command("train")
@click.argument("task")
@click.option(
    "--model", "model", required=True, help="Registered model (see `seqbench list models`)."
)
@PRESET
@SEED
@click.option("--force", is_flag=True, help="Retrain even when a finished checkpoint exists.")
@device_option
def train_cmd(task: str, model: str, preset: str, seed: int, force: bool, device: str) -> None:
    """Train a reference model with dev-set early stopping; saves a safetensors checkpoint.

    \b
    Examples:
      seqbench train scan --model transformer --preset full --seed 1
      seqbench train scan --model transformer --device cuda
    """
    from seqbench.stages import train_task

    check_device(device)
    result = train_task(task, model, preset, seed=seed, force=force, device=device)
    if result.reused:
        out.print(f"finished checkpoint exists, nothing to do: {result.checkpoint.directory}")


# --- eval ---------------------------------------------------------------------------------


@cli.command("eval")
@click.option("--task", help="Task, e.g. scan or scan:length (default with --checkpoint: its own).")
@click.option("--model", "model", help="Registered model name (not with --checkpoint).")
@click.option(
    "--checkpoint",
    "checkpoint",
    type=click.Path(path_type=Path),
    help="A model folder or .tar.gz made by `seqbench export` (trained anywhere).",
)
@click.option(
    "--test-set",
    "test_set",
    help="Score on an external test set instead (local:PATH or hub:ID), read whole as test "
    "with the checkpoint's own tokenizer and labels (VQA).",
)
@click.option("--split", default="test", show_default=True)
@click.option("--beam", type=int, default=1, show_default=True, help="Beam size (1 = greedy).")
@click.option(
    "--accel",
    default="cpu",
    show_default=True,
    help="Profile(s): NAME, NAME,NAME or all (see `seqbench list accels`).",
)
@click.option("--limit", type=int, help="Evaluate only the first N examples.")
@click.option(
    "--effects-limit",
    type=int,
    help="Profiles with effects (quantisation, noise) re-score only the first N examples.",
)
@click.option("--no-train", is_flag=True, help="Fail instead of training a missing checkpoint.")
@click.option(
    "--preset",
    type=click.Choice(PRESETS),
    default=None,
    help="Size preset from the task spec [default: quick; with --checkpoint: its own].",
)
@click.option("--seed", type=SEED_RANGE, default=None, help="Random seed [default: 0].")
@device_option
def eval_cmd(
    task: str | None,
    model: str | None,
    checkpoint: Path | None,
    test_set: str | None,
    split: str,
    beam: int,
    accel: str,
    limit: int | None,
    effects_limit: int | None,
    no_train: bool,
    preset: str | None,
    seed: int | None,
    device: str,
) -> None:
    """Score a model and simulate it on accelerator profiles; writes result records.

    \b
    Examples:
      seqbench eval --task scan --model transformer --accel all --beam 4
      seqbench eval --checkpoint rn-sort-of-clevr.tar.gz --accel all
      seqbench eval --task sort-of-clevr --model rn --test-set local:DIR   # external VQA set
      seqbench eval --task synth-faces --model face-embed --accel ice,cpu  # + gallery scaling
    """
    from seqbench.cli.tables import detail_lines, eval_table, workloads_table

    if beam < 1:
        raise SeqbenchError(f"--beam must be >= 1, got {beam}", "use --beam 1 for greedy decoding")
    check_device(device)
    for name, value in (("--limit", limit), ("--effects-limit", effects_limit)):
        if value is not None and value < 1:
            raise SeqbenchError(
                f"{name} must be >= 1, got {value}", f"omit {name} to score the whole split"
            )
    if checkpoint is not None or test_set:
        from seqbench.portable import eval_checkpoint

        if checkpoint is not None and model:
            raise SeqbenchError("--model and --checkpoint exclude each other", "drop --model")
        records = eval_checkpoint(
            checkpoint,
            task=task,
            model=model,
            preset=preset,
            test_set=test_set,
            split=split,
            beam=beam,
            accels=accel,
            seed=seed,
            limit=limit,
            effects_limit=effects_limit,
            device=device,
        )
        if records and records[0].get("test_set"):
            _print_test_set(records[0]["test_set"])
    else:
        from seqbench.stages import eval_task

        if not (task and model):
            raise SeqbenchError(
                "eval needs --task and --model (or --checkpoint PATH)",
                "e.g. `seqbench eval --task scan --model transformer`",
            )
        records = eval_task(
            task,
            model,
            preset or DEFAULT_PRESET,
            split=split,
            beam=beam,
            accels=accel,
            seed=0 if seed is None else seed,
            limit=limit,
            effects_limit=effects_limit,
            train_if_missing=not no_train,
            device=device,
        )
    out.print(eval_table(records))
    if (scaling := workloads_table(records)) is not None:
        out.print(scaling)
    for line in detail_lines(records):
        out.print(line, highlight=False)
    out.print(
        f"[dim]{len(records)} result record(s) written under "
        f"{Path(records[0]['path']).parents[2]}[/]"
    )


@cli.command("generate")
@click.option("--task", default="pydoc-lm", show_default=True, help="A language-modelling task.")
@click.option("--model", "model", default="transformer-lm", show_default=True, help="An lm model.")
@click.option("--prompt", required=True, help="Text to continue.")
@click.option("--max-tokens", type=int, default=50, show_default=True, help="Tokens to sample.")
@click.option(
    "--temperature", type=float, default=0.8, show_default=True, help="0 picks the argmax."
)
@click.option("--top-k", type=int, default=40, show_default=True, help="0 keeps every token.")
@click.option("--no-train", is_flag=True, help="Fail instead of training a missing checkpoint.")
@PRESET
@SEED
def generate_cmd(
    task: str,
    model: str,
    prompt: str,
    max_tokens: int,
    temperature: float,
    top_k: int,
    no_train: bool,
    preset: str,
    seed: int,
) -> None:
    """Sample a continuation of a prompt from a trained language model, streaming tokens.

    \b
    Examples:
      seqbench generate --task pydoc-lm --model transformer-lm --prompt "A class is"
      seqbench generate --prompt "The with statement" --temperature 0 --max-tokens 30
    """
    from seqbench.families.lm.generate import Sampling
    from seqbench.stages import generate_text

    sampling = Sampling(max_tokens, temperature, top_k, seed)
    started = []

    def show(piece: str) -> None:
        if not started:  # the prompt once the model accepted it
            started.append(True)
            out.print(prompt, end="", highlight=False, markup=False)
        out.print(piece, end="", highlight=False, markup=False)
        out.file.flush()

    generate_text(
        task,
        model,
        preset,
        prompt,
        sampling,
        seed=seed,
        train_if_missing=not no_train,
        on_text=show,
    )
    out.print()


def _print_test_set(info: dict[str, Any]) -> None:
    """What reading an external test set found: sizes, and what the checkpoint does not know
    (counted and scored as it is, never remapped)."""
    details = "; ".join(f"{key} {value}" for key, value in info.items() if key != "source")
    out.print(f"test set {info['source']}: {details}", highlight=False)


# --- export / import ----------------------------------------------------------------------


@cli.command("export")
@click.option("--task", required=True, help="Task the model was trained on.")
@click.option("--model", "model", required=True, help="Registered model name.")
@PRESET
@SEED
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(path_type=Path),
    help="A new folder, or FILE.tar.gz for one archive.",
)
def export_cmd(task: str, model: str, preset: str, seed: int, out_path: Path) -> None:
    """Write a trained model as a self-contained folder or archive (weights, config,
    tokenizers, data fingerprint, task spec, training log, model card).

    \b
    Example:
      seqbench export --task sort-of-clevr --model rn --preset full --out rn-soc.tar.gz
    """
    from seqbench.portable import export_model

    export_model(task, model, preset, seed, out_path)


@cli.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Replace a different checkpoint of the same run.")
def import_cmd(path: Path, force: bool) -> None:
    """Make an exported model this home's checkpoint: run, report and the suites use it
    (no retraining).

    \b
    Example:
      seqbench import rn-soc.tar.gz && seqbench run --preset full --task sort-of-clevr
    """
    from seqbench.portable import import_model

    import_model(path, force=force)


# --- report -------------------------------------------------------------------------------


@cli.command()
@click.option(
    "--format",
    "formats",
    multiple=True,
    default=("md", "csv", "json", "html"),
    show_default=True,
    type=click.Choice(["md", "csv", "json", "html"]),
    help="Output format(s); repeat the option. html writes one index.html that links the plots.",
)
@click.option("--no-plots", is_flag=True, help="Skip the PNG/SVG plots (html always has them).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    help="Folder for the tables (default: $SEQBENCH_HOME/leaderboards; `--out leaderboards` "
    "publishes into a checkout's committed tables).",
)
@click.option("--preset", help="Only records of this preset (default: all).")
@click.option(
    "--boards",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="Render the boards in this folder again, in today's layout, from their FAMILY.json "
    "rows alone (no result record is read, no number changes; their plots are kept).",
)
def report(
    formats: tuple[str, ...],
    no_plots: bool,
    out_dir: Path | None,
    preset: str | None,
    boards: Path | None,
) -> None:
    """Write leaderboard tables and plots (newest whole-split record per task, split, model,
    profile; a --limit record only where no whole one exists).

    \b
    Examples:
      seqbench report --format md --format html --preset full
      seqbench report --out leaderboards    # publish into the checkout's committed tables
      seqbench report --boards leaderboards --out leaderboards   # re-render published rows
    """
    from seqbench import paths
    from seqbench.stages import write_report

    out_dir = out_dir or paths.leaderboards_dir()
    if boards is not None:
        if preset:
            raise click.BadParameter("a published board keeps its rows", param_hint="--preset")
        from seqbench.report import rerender_boards

        written = rerender_boards(boards, list(formats), out_dir)
    else:
        written = write_report(list(formats), out_dir, preset=preset, plots=not no_plots)
    for path in written:
        out.print(f"wrote {path}")
    out.print(f"{len(written)} file(s) written to {out_dir}")


# --- run ----------------------------------------------------------------------------------


@cli.command("run")
@PRESET
@SEED
@click.option("--task", "tasks", multiple=True, help="Tasks to run (default: the preset's suite).")
@click.option("--accel", default="all", show_default=True, help="Profiles to simulate.")
@click.option(
    "--effects-limit",
    type=int,
    help="Profiles with effects (quantisation, noise) re-score only the first N examples.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    help="Folder for the tables (default: $SEQBENCH_HOME/leaderboards).",
)
@executor_options("suite cells", "Workers for --executor processes (and CPUs of a local Ray).")
@device_option
def run_cmd(
    preset: str,
    seed: int,
    tasks: tuple[str, ...],
    accel: str,
    effects_limit: int | None,
    out_dir: Path | None,
    executor: str,
    jobs: int,
    address: str | None,
    device: str,
) -> None:
    """Prepare, train, evaluate and report in one go (the main job); resumable.

    Without --task it runs the preset's suite (tasks/suites/PRESET.yaml): quick is SCAN,
    full is every committed leaderboard (Multi30k's rows once its source is bound with
    `seqbench prepare multi30k --source local:FOLDER`). A (task, model) cell is finished when
    records exist for every profile of the run the preset describes now, priced on the profile
    as it is now: unchanged cells are never repeated, a cell whose preset changed (epochs, model
    options, data) runs again, and an edited profile redoes only its own records (the host score
    and unchanged effects' quality are taken over from the earlier ones). A teacher's cell
    finishes before its students' start, whatever the executor.

    \b
    Examples:
      seqbench run --preset quick      # ~5 minutes on 2 cores; $SEQBENCH_HOME/leaderboards
      seqbench run --preset full --executor processes --jobs 2   # every board: hours
      seqbench run --preset full --task scan:length --executor ray
    """
    from seqbench import paths as sb_paths
    from seqbench.cli.tables import eval_table
    from seqbench.stages import run_suite
    from seqbench.suites import SuiteTask, load_suite

    out_dir = out_dir or sb_paths.leaderboards_dir()
    if effects_limit is not None and effects_limit < 1:
        raise click.BadParameter(f"must be >= 1, got {effects_limit}", param_hint="--effects-limit")
    check_executor_options(executor, jobs, address)
    check_device(device)

    limits: int | dict[str, int] | None = effects_limit
    test_sets: dict[str, list[str]] = {}
    entries: list[str | SuiteTask] = list(tasks)
    if not tasks:
        suite = load_suite(preset)
        entries = list(suite.entries)
        test_sets = suite.test_sets
        if limits is None:
            limits = suite.effects_limit
        out.print(f"suite [bold]{suite.name}[/]: {suite.description}")
    paths = run_suite(
        entries,
        preset,
        seed=seed,
        effects_limit=limits,
        accels=accel,
        out_dir=out_dir,
        executor=executor,
        jobs=jobs,
        address=address,
        on_records=lambda records: out.print(eval_table(records)),
        test_sets=test_sets,
        device=device,
    )
    for path in paths:
        out.print(f"wrote {path}")
    out.print(f"{len(paths)} file(s) written to {out_dir}")


# --- cache --------------------------------------------------------------------------------


@cli.group()
def cache() -> None:
    """Inspect or clean the prepare cache under $SEQBENCH_HOME/cache."""


@cache.command("ls")
def cache_ls() -> None:
    """List cached task data with sizes.

    \b
    Example:
      seqbench cache ls
    """
    from seqbench.data import cache as data_cache

    table = Table("task", "fingerprint", "MB", "valid", "path")
    for entry in data_cache.entries():
        table.add_row(
            entry["task"],
            entry["fingerprint"],
            f"{entry['bytes'] / 1e6:.1f}",
            "yes" if entry["valid"] else "[red]no[/]",
            entry["path"],
        )
    out.print(table)


@cache.command("clean")
@click.argument("task", required=False)
@click.option("--invalid-only", is_flag=True, help="Remove only folders failing verification.")
def cache_clean(task: str | None, invalid_only: bool) -> None:
    """Delete cached data (all, one task, or only invalid folders).

    \b
    Example:
      seqbench cache clean scan
    """
    import shutil

    from seqbench import locks
    from seqbench.atomic import remove_stale_temps
    from seqbench.bundle import remove_stale_scratch
    from seqbench.data import cache as data_cache

    removed, busy = 0, 0
    for entry in data_cache.entries():
        if task and entry["task"].split(":")[0] != task.split(":")[0]:
            continue
        if invalid_only and entry["valid"]:
            continue
        path = Path(entry["path"])
        try:
            # Never under a live reader or builder: they hold the entry's lock.
            with locks.hold(path, f"cache entry {path}", wait=False):
                shutil.rmtree(path, ignore_errors=True)
        except SeqbenchError as busy_error:
            out.print(f"[yellow]kept[/] {busy_error.message}")
            busy += 1
            continue
        removed += 1
    stale = remove_stale_temps(data_cache.paths.cache_dir())
    stale += remove_stale_scratch()
    out.print(
        f"removed {removed} cache folder(s) and {len(stale)} temp file(s) of dead processes"
        + (f"; kept {busy} in use" if busy else "")
    )


def _register_accels() -> None:
    from seqbench.cli.accels import accels

    cli.add_command(accels)
    from seqbench.cli.sweep import sweep_cmd

    cli.add_command(sweep_cmd)
    from seqbench.cli.price import price_cmd

    cli.add_command(price_cmd)


_register_accels()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="seqbench")


if __name__ == "__main__":
    main()
