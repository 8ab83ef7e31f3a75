"""What each ATen op is to the simulator: the vocabulary :mod:`seqbench.trace_aten` reads.

Names are ATen overload packets (``aten.addmm.default`` -> ``addmm``). To teach the tracer
an op, add it to the table of its kind; an op in no table is recorded as unknown and priced
on the host.
"""

from __future__ import annotations

# Pointwise ops, by the ``kind`` the vector mapping prices (seqbench.accel.mappings.vector);
# a trailing underscore (in place) is the same kind.
_KIND_GROUPS = {
    "add": "add", "sub": "sub rsub", "mul": "mul addcmul lerp", "div": "div reciprocal",
    "relu": "relu hardtanh clamp clamp_min leaky_relu", "gelu": "gelu", "tanh": "tanh",
    "sigmoid": "sigmoid hardsigmoid", "silu": "silu", "hardswish": "hardswish", "elu": "elu",
    "erf": "erf", "exp": "exp", "log": "log", "pow": "pow", "sqrt": "sqrt", "rsqrt": "rsqrt",
    "neg": "neg", "abs": "abs", "max": "maximum", "min": "minimum", "where": "where",
    "sin": "sin", "cos": "cos", "reduce": "mean sum amax amin var var_mean",
    "pool": "max_pool2d_with_indices max_pool2d avg_pool2d _adaptive_avg_pool2d "
    "adaptive_max_pool2d avg_pool1d max_pool1d",
}  # fmt: skip
ELEMENTWISE_KINDS = {
    op + suffix: kind
    for kind, names in _KIND_GROUPS.items()
    for op in names.split()
    for suffix in ("", "_")
}
SOFTMAX_OPS = frozenset("_softmax _safe_softmax _log_softmax softmax log_softmax".split())
NORM_OPS = frozenset(
    "native_layer_norm native_group_norm native_batch_norm _native_batch_norm_legit "
    "_native_batch_norm_legit_no_training _fused_rms_norm".split()
)
PRODUCT_OPS = frozenset("mm addmm bmm baddbmm mv addmv dot".split())
SDPA_OPS = frozenset(
    "_scaled_dot_product_flash_attention_for_cpu _scaled_dot_product_flash_attention "
    "_scaled_dot_product_efficient_attention _scaled_dot_product_cudnn_attention "
    "_scaled_dot_product_fused_attention_overrideable".split()
)
# Data movement an accelerator does by addressing (views, copies, concatenation, dropout in
# eval), and bookkeeping ops that return no tensor.
LAYOUT_OPS = frozenset(
    "view _unsafe_view reshape _reshape_alias t transpose permute expand expand_as view_as "
    "unsqueeze squeeze select slice split split_with_sizes chunk unbind clone contiguous "
    "_to_copy copy copy_ to type_as detach alias lift_fresh as_strided cat stack narrow "
    "flatten unflatten movedim diagonal index_select index gather masked_select repeat "
    "repeat_interleave roll flip pad constant_pad_nd triu tril triu_ tril_ new_zeros "
    "new_ones new_empty empty_like zeros_like ones_like full_like fill_ zero_ empty_strided "
    "set_ resize_ index_put index_put_ scatter scatter_ slice_scatter select_scatter "
    "native_dropout dropout _local_scalar_dense item is_nonzero equal _assert_async "
    "sym_size sym_stride sym_numel".split()
)
# Constructors: what they make in forward is a constant, like a buffer.
FACTORY_OPS = frozenset(
    "arange zeros ones full empty scalar_tensor randn rand randint linspace eye tensor "
    "_efficientzerotensor normal_ uniform_ bernoulli".split()
)
# Layout ops that keep the elements' order: a product's operands are recorded in the shape
# they had before such views flattened them (so attention heads stay visible, as in ops.py).
RESHAPES = frozenset(
    "view _unsafe_view reshape _reshape_alias expand clone contiguous detach alias flatten "
    "unflatten".split()
)
FOLDED_OPS = frozenset({"masked_fill", "masked_fill_", "nan_to_num", "nan_to_num_"})
SCALAR_FOLDABLE = frozenset({"mul", "mul_", "div", "div_"})
