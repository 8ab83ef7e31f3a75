"""``seqbench price``: the simulated cost of any PyTorch model, without a task or a checkpoint.

A command of its own rather than a form of ``eval``: eval scores a registered model's
checkpoint on a task's split (quality first, cost beside it); pricing needs neither a task
nor data nor training, only a module and the shapes of its inputs, and writes cost-only
records that the ``models`` board shows.
"""

from __future__ import annotations

import click
from rich.console import Console

from seqbench.errors import SeqbenchError

# Piped output (logs, CI) gets wide tables, as the other commands print them.
console = Console(width=None if Console().is_terminal else 160)


@click.command("price")
@click.option(
    "--module",
    "module_spec",
    metavar="FILE.py:FACTORY",
    help="A callable in a Python file returning (module, inputs); it gets seq_len and batch "
    "when it takes them.",
)
@click.option(
    "--hf",
    "hf_name",
    metavar="NAME|DIR",
    help="A transformers model built offline from its configuration: a known name "
    "(bert-base-uncased, gpt2, google/vit-base-patch16-224, openai/whisper-base...) or a "
    "folder / config.json (weights loaded when the folder holds them, else random).",
)
@click.option(
    "--paper",
    "paper_name",
    help="A paper's workload from its module definition: transformer-base, vilbert-base, "
    "alexnet, vgg-a..vgg-e, mnist-mlp, mnist-cnn.",
)
@click.option("--seq-len", type=int, default=128, show_default=True, help="Tokens per sequence.")
@click.option("--batch", type=int, default=1, show_default=True, help="Sequences per pass.")
@click.option("--accel", default="all", show_default=True, help="Profiles: all, or a comma list.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random weights and inputs.")
@click.option(
    "--shapes-only",
    is_flag=True,
    help="Count from shapes on the meta device: fast, exact MACs, no sparsity statistics.",
)
def price_cmd(
    module_spec: str | None,
    hf_name: str | None,
    paper_name: str | None,
    seq_len: int,
    batch: int,
    accel: str,
    seed: int,
    shapes_only: bool,
) -> None:
    """Price one forward pass of any model on accelerator profiles (no quality: cost only).

    \b
    Examples:
      seqbench price --hf bert-base-uncased --accel all
      seqbench price --hf gpt2 --seq-len 1024 --shapes-only --accel retransformer,cpu
      seqbench price --module my_model.py:build --batch 4
      seqbench price --paper vgg-d --accel pipelayer
      seqbench report    # the `models` board: a row per model and profile
    """
    given = [x for x in (module_spec, hf_name, paper_name) if x is not None]
    if len(given) != 1:
        raise SeqbenchError(
            "give exactly one of --module, --hf and --paper", "e.g. --hf bert-base-uncased"
        )
    if seq_len < 1 or batch < 1:
        raise SeqbenchError("--seq-len and --batch must be at least 1", "e.g. --seq-len 128")
    if hf_name is not None:
        from seqbench.external.hf import build_hf

        model = build_hf(hf_name, seq_len=seq_len, batch=batch, seed=seed, shapes_only=shapes_only)
    elif paper_name is not None:
        from seqbench.external.paper_models import PAPERS

        if paper_name not in PAPERS:
            raise SeqbenchError(f"--paper {paper_name!r} is not known", f"one of {sorted(PAPERS)}")
        model = PAPERS[paper_name](seq_len, batch, seed)
    else:
        from seqbench.external.loader import load_factory

        model = load_factory(module_spec or "", seq_len=seq_len, batch=batch)
    from seqbench.price import price

    records = price(model, accel, stats=not shapes_only)
    render(console, records)


def render(out: Console, records: list[dict]) -> None:
    """The priced rows as a table, with what the trace could not price."""
    from rich.table import Table

    first = records[0]
    trace, source = first["trace"], first["source"]
    unit = first["host"]["unit"]
    out.print(
        f"[bold]{first['model']}[/] ({source.get('class', source.get('name'))}, "
        f"{first['checkpoint']['parameters']:,} parameters): "
        f"{trace['macs_total'] / first['host']['samples']:,.0f} MACs per sample",
        highlight=False,
    )
    table = Table("profile", "latency ms", f"{unit}s/s", f"µJ/{unit}", "power W", "TOPS/W")
    for record in records:
        sim = record["simulated"]
        table.add_row(
            record["profile"],
            f"{sim['latency_s_per_sample'] * 1e3:.4g}",
            f"{sim['throughput_units_per_s']:,.4g}",
            f"{sim['energy_J_per_unit'] * 1e6:.4g}",
            f"{sim['power_W']:.4g}",
            f"{sim['tops_per_w']:.4g}",
        )
    out.print(table)
    unknown = trace["meta"].get("unknown_ops") or {}
    if unknown:
        listed = ", ".join(f"{k} x{v}" for k, v in sorted(unknown.items()))
        out.print(f"ops the tracer does not know, priced on the host: {listed}")
    if source.get("random_weights"):
        out.print(f"weights: {source['weights']}")
    out.print(f"{len(records)} cost record(s) written; `seqbench report` shows the models board")
