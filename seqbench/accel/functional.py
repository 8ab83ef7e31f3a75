"""What a profile's functional effects read: the parameters that change a model's quality.

Every other parameter is cost-only: changing it re-prices a model's trace but leaves its
quality under the profile's effects as it was, so a sweep and ``seqbench run`` reuse that
quality instead of decoding the split again.
"""

from __future__ import annotations

import copy
from typing import Any

from seqbench.accel.profile import Profile, draws_table_noise, noise_table_digest

# Parameters whose value > 0 makes an effect draw seeded random numbers (effects.py): points
# with them are repeated with different noise seeds and their spread reported.
NOISE_PARAMETERS = ("nonideal.conductance_sigma", "nonideal.noise_scale", "nand.bit_error_rate")


def is_noisy(profile: Profile) -> bool:
    """Whether an effect of ``profile`` draws seeded noise (repeats make sense): a noise
    parameter > 0, ``noise_scale`` only with a table to scale."""
    return draws_table_noise(profile) or any(
        profile.has(p) and float(profile.params[p].raw) > 0
        for p in NOISE_PARAMETERS
        if p != "nonideal.noise_scale"
    )


class _Recording(dict):
    """A params dict that notes which paths are looked up."""

    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__(data)
        self.read: set[str] = set()

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return super().__contains__(key)

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)


def functional_paths(profile: Profile) -> set[str]:
    """The parameters the profile's functional effects read (changing them changes quality);
    every other parameter is cost-only and reuses the cached quality and trace."""
    from seqbench.accel.effects import effect_hooks

    probe = copy.copy(profile)
    probe.params = _Recording(profile.params)
    effect_hooks(probe, 0)
    return probe.params.read & set(profile.params)


def signature(profile: Profile) -> dict[str, Any]:
    """The parts of ``profile`` its effects compute with: the effects named, the settings,
    the raw values of :func:`functional_paths` and the noise table's content where noise is
    drawn from one. Two profiles with equal signatures score a model alike (given the same
    examples and noise seed)."""
    key = {
        "effects": profile.effects,
        "settings": profile.settings,
        "functional": {p: profile.params[p].raw for p in sorted(functional_paths(profile))},
    }
    table = noise_table_digest(profile)
    # only where noise is drawn from a table: other keys stay as they were
    return {**key, "noise_table": table} if table else key
