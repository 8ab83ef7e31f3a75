"""The traceable op layer: hooks see every op, transform inputs/outputs, nest and unwind."""

from __future__ import annotations

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
