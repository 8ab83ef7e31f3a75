"""The ``clip`` dual encoder: symmetric InfoNCE, unit embeddings, clamped temperature, ops."""

from __future__ import annotations

import math

import pytest
import torch

from seqbench import ops
from seqbench.errors import SeqbenchError
from seqbench.models import build_model
from seqbench.models.dual_encoder import symmetric_info_nce


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> None:
    """Tiny models run faster on one thread, and the test machine is shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


TINY = {
    "vocab_size": 20,
    "image_size": 32,
    "embed_dim": 16,
    "text_d_model": 16,
    "text_heads": 2,
    "text_layers": 1,
    "text_d_ff": 32,
    "max_len": 12,
    "cnn_channels": [4, 8],
    "cnn_width": 16,
    "vit_patch": 8,
    "vit_d_model": 16,
    "vit_heads": 2,
    "vit_layers": 1,
    "vit_d_ff": 32,
}


def batch(n: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    pixels = torch.rand(n, 3, 32, 32, generator=generator) * 2 - 1
    ids = torch.randint(4, 20, (n, 7), generator=generator)
    ids[0, 5:] = 0  # padding
    return pixels, ids


def test_info_nce_is_symmetric_and_matches_a_hand_computation() -> None:
    logits = torch.tensor([[2.0, 0.0], [1.0, 3.0]])
    rows = -math.log(math.e**2 / (math.e**2 + 1)) - math.log(math.e**3 / (math.e + math.e**3))
    cols = -math.log(math.e**2 / (math.e**2 + math.e)) - math.log(math.e**3 / (1 + math.e**3))
    expected = 0.5 * (rows / 2 + cols / 2)
    assert symmetric_info_nce(logits).item() == pytest.approx(expected, rel=1e-6)
    assert symmetric_info_nce(logits.T).item() == pytest.approx(expected, rel=1e-6)
    aligned = torch.eye(4) * 10
    assert symmetric_info_nce(aligned) < symmetric_info_nce(aligned[[1, 0, 3, 2]])


@pytest.mark.parametrize("encoder", ["cnn", "vit"])
def test_embeddings_are_unit_vectors_and_every_part_learns(encoder: str) -> None:
    model = build_model("clip", {**TINY, "image_encoder": encoder}, family="retrieval")
    pixels, ids = batch()
    image_emb, text_emb = model(pixels, ids)
    assert image_emb.shape == text_emb.shape == (3, 16)
    assert torch.allclose(image_emb.norm(dim=1), torch.ones(3), atol=1e-5)
    assert torch.allclose(text_emb.norm(dim=1), torch.ones(3), atol=1e-5)
    symmetric_info_nce(model.logits(image_emb, text_emb)).backward()
    assert model.logit_scale.grad is not None
    assert all(p.grad is not None for n, p in model.named_parameters() if "embedding" not in n)


def test_temperature_starts_at_007_and_is_clamped_at_100() -> None:
    model = build_model("clip", TINY, family="retrieval")
    assert model.scale().item() == pytest.approx(1 / 0.07, rel=1e-5)
    with torch.no_grad():
        model.logit_scale.fill_(10.0)
    assert model.scale().item() == pytest.approx(100.0)


def test_padding_does_not_change_the_text_embedding() -> None:
    model = build_model("clip", TINY, family="retrieval").eval()
    ids = torch.tensor([[5, 6, 7, 8]])
    padded = torch.tensor([[5, 6, 7, 8, 0, 0, 0]])
    assert torch.allclose(model.encode_text(ids), model.encode_text(padded), atol=1e-5)


def test_word_order_changes_the_text_embedding() -> None:
    model = build_model("clip", TINY, family="retrieval").eval()
    a = model.encode_text(torch.tensor([[5, 6, 7, 8]]))
    b = model.encode_text(torch.tensor([[8, 7, 6, 5]]))
    assert not torch.allclose(a, b, atol=1e-4)  # positions reach the pooled vector


@pytest.mark.parametrize("encoder", ["cnn", "vit"])
def test_the_forward_pass_goes_through_the_traced_ops(encoder: str) -> None:
    class Recorder(ops.OpHook):
        def __init__(self) -> None:
            self.classes: set[ops.OpClass] = set()

        def record(self, op_class, name, inputs, output, meta) -> None:  # noqa: ANN001
            self.classes.add(op_class)

    model = build_model("clip", {**TINY, "image_encoder": encoder}, family="retrieval").eval()
    recorder = Recorder()
    with ops.hooks(recorder), torch.no_grad():
        model(*batch())
    expected = {"conv", "matmul_static", "matmul_dynamic", "softmax", "layernorm", "embedding"}
    assert expected <= {c.value for c in recorder.classes}


def test_unknown_image_encoder_is_a_clear_error() -> None:
    with pytest.raises(SeqbenchError, match="did you mean 'vit'"):
        build_model("clip", {**TINY, "image_encoder": "vitt"}, family="retrieval")
