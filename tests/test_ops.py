"""The traceable op layer: hooks see every op, transform inputs/outputs, nest and unwind."""

from __future__ import annotations

import math

import pytest
import torch

from seqbench import ops
from seqbench.ops import OpClass, OpHook


class Recorder(OpHook):
    def __init__(self) -> None:
        self.seen: list[tuple[OpClass, str]] = []

    def record(self, op_class, name, inputs, output, meta) -> None:  # noqa: ANN001
        self.seen.append((op_class, name))


class ZeroWeights(OpHook):
    def transform_inputs(self, op_class, name, inputs, meta):  # noqa: ANN001
        if op_class is OpClass.MATMUL_STATIC:
            return inputs[:-1] + (torch.zeros_like(inputs[-1]),)
        return inputs


def test_attention_ops_are_recorded_with_classes() -> None:
    torch.manual_seed(0)
    q = torch.randn(2, 3, 4)
    k = torch.randn(2, 5, 4)
    mask = torch.ones(2, 3, 5, dtype=torch.bool)
    recorder = Recorder()
    with ops.hooks(recorder):
        out, weights = ops.scaled_dot_product_attention(q, k, k, mask, name="attn")
    assert [c for c, _ in recorder.seen] == [
        OpClass.MATMUL_DYNAMIC,
        OpClass.SOFTMAX,
        OpClass.MATMUL_DYNAMIC,
    ]
    assert [n for _, n in recorder.seen] == ["attn.qk", "attn.softmax", "attn.sv"]
    assert out.shape == (2, 3, 4)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3))
    assert ops.active_hooks() == ()


def test_masked_attention_ignores_masked_keys() -> None:
    torch.manual_seed(0)
    q, k, v = torch.randn(1, 2, 4), torch.randn(1, 3, 4), torch.randn(1, 3, 4)
    mask = torch.tensor([[[True, True, False]]])
    out, weights = ops.scaled_dot_product_attention(q, k, v, mask, name="a")
    assert torch.all(weights[..., 2] == 0)
    v2 = v.clone()
    v2[:, 2] = 100.0
    out2, _ = ops.scaled_dot_product_attention(q, k, v2, mask, name="a")
    torch.testing.assert_close(out, out2)


def _graph_nodes(tensor: torch.Tensor) -> set[str]:
    """Names of every autograd node ``tensor`` was computed through."""
    seen, stack = set(), [tensor.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node.name() in seen:
            continue
        seen.add(node.name())
        stack.extend(next_fn for next_fn, _ in node.next_functions)
    return seen


def test_unmasked_attention_is_plain_softmax_attention_with_no_nan_pass() -> None:
    """No mask, no fully masked row: the NaN clean-up (a pass and a backward over every
    attention weight, a third of a bind-audio step) is skipped; values and gradients are
    exactly softmax(QK^T/sqrt(d))V's."""
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 5, 4, requires_grad=True) for _ in range(3))
    out, weights = ops.scaled_dot_product_attention(q, k, v, name="a")
    assert not any("NanToNum" in n for n in _graph_nodes(out))
    expected = torch.softmax(q @ k.transpose(-2, -1) / 2.0, dim=-1) @ v
    assert torch.equal(out, expected)
    grads = torch.autograd.grad(out.sum(), (q, k, v))
    reference = torch.autograd.grad(expected.sum(), (q, k, v))
    assert all(torch.equal(a, b) for a, b in zip(grads, reference, strict=True))


def _reference_attention(q, k, v, mask):  # noqa: ANN001, ANN202
    """The textbook masked attention: fill with -inf, softmax, zero NaN rows."""
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    return torch.nan_to_num(weights, nan=0.0) @ v


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("case", ["all real", "key padding beside [CLS]", "causal"])
def test_masked_attention_is_the_masked_fill_attention_bit_for_bit(
    case: str, dtype: torch.dtype
) -> None:
    """The additive mask, and skipping the fill (nothing masked) or the NaN pass (no row fully
    masked), give exactly the values and gradients of the textbook formulation: trained
    weights do not move."""
    torch.manual_seed(0)
    q, k, v = (torch.randn(3, 2, 6, 8, dtype=dtype, requires_grad=True) for _ in range(3))
    if case == "all real":
        mask = torch.ones(3, 1, 1, 6, dtype=torch.bool)
    elif case == "causal":
        mask = torch.ones(6, 6, dtype=torch.bool).tril()
    else:
        mask = torch.rand(3, 1, 1, 6) > 0.4
        mask[..., 0] = True
    out, _ = ops.scaled_dot_product_attention(q, k, v, mask, name="a")
    expected = _reference_attention(q, k, v, mask)
    assert torch.equal(out, expected)
    g = torch.randn_like(out)
    grads = torch.autograd.grad(out, (q, k, v), g)
    reference = torch.autograd.grad(expected, (q, k, v), g)
    assert all(torch.equal(a, b) for a, b in zip(grads, reference, strict=True))


def test_masked_attention_runs_on_meta_tensors() -> None:
    """Shapes-only pricing runs models on meta tensors, whose mask has no values to read:
    the mask is applied without looking at it."""
    q, k, v = (torch.empty(2, 4, 5, 8, device="meta") for _ in range(3))
    mask = torch.ones(2, 1, 1, 5, dtype=torch.bool, device="meta")
    out, weights = ops.scaled_dot_product_attention(q, k, v, mask, name="a")
    assert out.shape == (2, 4, 5, 8) and weights.shape == (2, 4, 5, 5)


def test_fully_masked_query_row_attends_to_nothing() -> None:
    torch.manual_seed(0)
    q, k, v = torch.randn(1, 2, 4), torch.randn(1, 3, 4), torch.randn(1, 3, 4)
    mask = torch.tensor([[[True, True, False], [False, False, False]]])
    out, weights = ops.scaled_dot_product_attention(q, k, v, mask, name="a")
    assert torch.all(weights[0, 1] == 0) and torch.all(out[0, 1] == 0)
    assert not torch.isnan(out).any()


def test_hooks_transform_weights_and_are_scoped() -> None:
    layer = ops.name_modules(ops.Linear(3, 2, bias=False))
    x = torch.ones(1, 3)
    with ops.hooks(ZeroWeights()):
        assert torch.all(layer(x) == 0)
    assert not torch.all(layer(x) == 0)


def test_similarity_search_returns_topk_indices() -> None:
    gallery = torch.eye(4)
    queries = torch.tensor([[0.1, 0.9, 0.0, 0.5]])
    recorder = Recorder()
    with ops.hooks(recorder):
        top = ops.similarity_search(queries, gallery, 2, name="search")
    assert top.tolist() == [[1, 3]]
    assert recorder.seen == [(OpClass.SIMILARITY_SEARCH, "search")]
