"""Accelerator simulation: profiles (``profile``), the cost model (``cost``), functional
effects on the model (``effects``) and the papers' headline checks (``validate``).

    from seqbench.accel.profile import resolve_profiles
    from seqbench.accel.cost import simulate
    from seqbench.accel.effects import effect_hooks
"""
