"""Re-scoring a split with a profile's functional effects against scoring it clean.

``seqbench eval`` scores the split on the host, then again per profile that lists effects
(ADC emulation, LUT softmax, ...) with the effect hooks installed. This times both as the
eval stage runs them (``family.evaluate`` on the same sentences, greedy, fresh hooks per
call so weight encoding is paid once per split as in ``seqbench eval``) and checks the
issue's budget: re-scoring costs at most 3x the clean evaluation. The model is untrained
(no checkpoint to train first); its outputs run long (up to ``max_len``), and the effects can
change where a sentence ends, so the footnote gives both sides' mean output length.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from bench.common import Measurement, best_seconds, scan
from seqbench import ops
from seqbench.accel.effects import effect_hooks
from seqbench.accel.profile import resolve_profiles
from seqbench.families.base import EvalOutcome
from seqbench.models import build_model
from seqbench.train import seed_everything

BUDGET = 3.0  # issue 18: effects re-score <= 3x the clean evaluation


@dataclass(frozen=True)
class EffectsSettings:
    preset: str = "full"
    sentences: int = 256
    profiles: tuple[str, ...] = ("retransformer", "pipelayer", "multcim")
    rounds: int = 3


FULL = EffectsSettings()
QUICK = EffectsSettings(preset="tiny", sentences=8, profiles=("retransformer",), rounds=1)


def measure(settings: EffectsSettings = FULL) -> list[Measurement]:
    """One row per profile: sentences/s with its effects (seqbench) vs clean (reference)."""
    family, prepared = scan(settings.preset)
    config = family.model_config(prepared.run.with_model("transformer"), prepared)
    torch.manual_seed(0)
    model = build_model("transformer", config, family="translation")
    n = min(settings.sentences, len(family.split_data(prepared, "test")))

    outcomes: dict[str, EvalOutcome] = {}

    def scorer(profile_name: str | None) -> Callable[[], None]:
        """Score the sentences clean (None) or with a profile's effects."""
        profile = None if profile_name is None else resolve_profiles(profile_name)[0]

        def run() -> None:
            seed_everything(0)
            hooks = [] if profile is None else effect_hooks(profile, 0)  # fresh, as eval does
            with ops.hooks(*hooks):
                outcome = family.evaluate(model, prepared, "test", limit=n, progress=False)
            outcomes[profile_name or "clean"] = outcome

        return run

    candidates = {"clean": scorer(None), **{name: scorer(name) for name in settings.profiles}}
    seconds = best_seconds(candidates, settings.rounds)
    clean_tokens = outcomes["clean"].units / n
    rows = []
    for name in settings.profiles:
        cost = seconds[name] / seconds["clean"]
        effects = ", ".join(resolve_profiles(name)[0].effects)
        rows.append(
            Measurement(
                f"effects re-score: {name}",
                n / seconds[name],
                n / seconds["clean"],
                "sentences/s",
                f"{name} ({effects}): re-scoring costs {cost:.2f}x the clean eval (budget"
                f" <= {BUDGET:.0f}x: {'met' if cost <= BUDGET else 'NOT met'}); reference ="
                f" clean host eval of the same {n} SCAN test sentences, untrained transformer"
                f" (SCAN {settings.preset} sizes), greedy, best of {settings.rounds}; mean"
                f" output {outcomes[name].units / n:.1f} tokens with effects, {clean_tokens:.1f}"
                " clean",
            )
        )
    return rows
