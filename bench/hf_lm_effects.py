"""An external (transformers) model scored on a seqbench task under each profile's effects.

Trains a GPT-2-configured causal LM the size of ``transformer-lm``'s quick preset on
pydoc-lm (the family's own batches and loss), then scores its test split with the lm
family's ``evaluate``: on the host, and per profile with the effects off (must equal the
host) and on (measured through the ATen-level op layer). Prints one row per profile::

    python bench/hf_lm_effects.py --steps 1500 --limit 400
"""

from __future__ import annotations

import argparse
import time

import torch

from seqbench.accel.profile import load_named
from seqbench.config import load_task
from seqbench.external.adapters import adapt
from seqbench.families.base import family_for
from seqbench.score import score_on_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--limit", type=int, default=None, help="Test windows scored.")
    parser.add_argument("--profiles", default="multcim,retransformer,pipelayer")
    args = parser.parse_args()
    import transformers

    torch.manual_seed(0)
    spec, subset = load_task("pydoc-lm")
    family = family_for(spec)
    prepared, _ = family.prepare(spec, subset, "quick")
    vocab = int(prepared.manifest["tokenizer"]["vocab_size"])
    sizes = {"n_positions": 64, "n_embd": 128, "n_layer": 2, "n_head": 4, "n_inner": 256}
    config = transformers.GPT2Config(vocab_size=vocab, bos_token_id=0, eos_token_id=0, **sizes)
    config._attn_implementation = "eager"
    model = adapt(transformers.GPT2LMHeadModel(config), "lm", vocab_size=vocab)
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    began, step, epoch = time.perf_counter(), 0, 0
    while step < args.steps:
        for batch in family.batches(prepared, "train", 32, shuffle=True, seed=0, epoch=epoch):
            loss = family.loss(model, batch)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            step += 1
            if step >= args.steps:
                break
        epoch += 1
    print(f"trained {step} steps ({epoch} epochs) in {time.perf_counter() - began:.0f} s")
    limit = args.limit

    def perplexity(**kwargs) -> float:  # noqa: ANN003
        return score_on_task(model, "pydoc-lm", preset="quick", limit=limit, **kwargs).metrics[
            "perplexity"
        ]

    host = perplexity()
    print(f"host: test perplexity {host:.4f} ({limit or 'all'} windows)")
    for name in args.profiles.split(","):
        profile = load_named(name)
        off = perplexity(profile=profile, effects=False)
        began = time.perf_counter()
        on = perplexity(profile=profile)
        print(
            f"{name}: effects {', '.join(profile.effects) or 'none'}: perplexity {on:.4f} "
            f"({on - host:+.4f}); effects off {off:.4f} (equal to host: {off == host}); "
            f"{time.perf_counter() - began:.0f} s"
        )


if __name__ == "__main__":
    main()
