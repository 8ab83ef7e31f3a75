"""``seqbench accels show NAME`` / ``seqbench accels validate``; ``seqbench list accels``.

The lead's main group adds :data:`accels` (``cli.add_command(accels)``) and ``seqbench list
accels`` calls :func:`render_profile_list`. The accel modules are imported inside the commands
so that ``seqbench --help`` stays instant.
"""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

console = Console()


def render_profile_list(out: Console) -> None:
    """One row per profile in ``accelerators/``: paper, DOI, technology, assumed parameters."""
    from seqbench.accel.profile import list_profiles

    table = Table(
        "profile", "aliases", "paper", "doi", "technology", "pipeline", "assumed / params"
    )
    for name, p in list_profiles().items():
        table.add_row(
            name,
            ", ".join(p.aliases) or "—",
            p.citation,
            p.doi,
            p.technology,
            p.pipeline,
            f"{len(p.assumed_parameters())} / {len(p.params)}",
        )
    out.print(table)
    out.print("details: seqbench accels show NAME    paper checks: seqbench accels validate")


def render_profile(out: Console, name: str) -> None:
    """Citation, mapping, and every parameter with its unit and source (or why assumed)."""
    from seqbench.accel.profile import load_named

    p = load_named(name)
    out.print(f"[bold]{p.name}[/] — {p.title}")
    out.print(f"  {p.citation}, doi {p.doi}")
    out.print(
        f"  technology: {p.technology}; pipeline: {p.pipeline}; fallback: {p.fallback or '—'}"
    )
    out.print(f"  file: {p.path} (sha {p.hash})")
    mapping = ", ".join(f"{k}→{v}" for k, v in p.mapping.items())
    out.print(f"  mapping: {mapping}")
    if p.settings:
        out.print(f"  settings: {p.settings}")
    out.print(f"  effects: {', '.join(p.effects) or 'none'}")
    if p.gallery:
        out.print(f"  gallery: in {p.gallery.storage} ({p.gallery.provenance()})")
    assumed = p.assumed_parameters()
    table = Table(
        "parameter",
        "value",
        "unit",
        "source / why assumed",
        title=(f"{len(assumed)} of {len(p.params)} parameters assumed"),
        title_justify="left",
    )
    for param in p.params.values():
        style = "yellow" if param.assumed else None
        table.add_row(param.path, str(param.raw), param.unit, param.provenance(), style=style)
    out.print(table)
    for note in p.notes:
        out.print(f"  note: {note}")


def render_validation(out: Console, checks: list) -> None:  # noqa: ANN001 (list[Check])
    from seqbench.accel.validate import status_lines

    table = Table(
        "paper",
        "headline",
        "paper",
        "ours",
        "error",
        "state",
        title=("each paper's headline vs the cost model on the paper's workload"),
        title_justify="left",
    )
    for i, c in enumerate(checks, 1):
        error = "—" if c.error is None else f"{c.error:+.0%}"
        paper = "n/a" if c.paper is None else f"{c.paper:g} {c.unit}"
        if c.paper is not None and c.paper_high is not None:
            paper = f"{c.paper:g}-{c.paper_high:g} {c.unit}"
        ours = "—" if c.ours is None else f"{c.ours:.3g} {c.unit}"
        table.add_row(c.paper_name, f"[{i}] {c.claim}", paper, ours, error, c.state)
    out.print(table)
    out.print("state of each headline:")
    for line in status_lines(checks):
        out.print(line, highlight=False, soft_wrap=True)
    out.print("notes:")
    for i, c in enumerate(checks, 1):
        if c.note:
            out.print(f"[{i}] {c.source}: {c.note}", highlight=False)


@click.group("accels")
def accels() -> None:
    """Accelerator profiles: inspect them and check them against their papers.

    \b
    Examples:
      seqbench accels show retransformer     # parameters, units, sources, what is assumed
      seqbench accels validate               # paper vs ours for every headline figure
    """


@accels.command("list")
def list_cmd() -> None:
    """Every profile with its paper and how many parameters are assumed.

    \b
    Example:
      seqbench accels list
    """
    render_profile_list(console)


@accels.command("show")
@click.argument("name")
def show_cmd(name: str) -> None:
    """A profile's citation, op mapping and parameters (assumed ones highlighted).

    \b
    Example:
      seqbench accels show reretransformer
    """
    render_profile(console, name)


@accels.command("validate")
@click.option(
    "--json", "json_path", type=click.Path(dir_okay=False), help="Also write the checks as JSON."
)
@click.option(
    "--markdown",
    "markdown_path",
    type=click.Path(dir_okay=False),
    help="Also write the checks as markdown (accelerators/VALIDATION.md is this output).",
)
def validate_cmd(json_path: str | None, markdown_path: str | None) -> None:
    """Reproduce each paper's headline comparison on its own workload: paper vs ours, error,
    and whether it is reproduced or which public fact is missing.

    \b
    Example:
      seqbench accels validate --markdown accelerators/VALIDATION.md
    """
    from seqbench import atomic
    from seqbench.accel.validate import render_markdown, run_validation

    checks = run_validation()
    render_validation(console, checks)
    if json_path:
        atomic.write_json(json_path, [c.to_dict() for c in checks])
        console.print(f"wrote {json_path}")
    if markdown_path:
        atomic.write_text(markdown_path, render_markdown(checks))
        console.print(f"wrote {markdown_path}")
