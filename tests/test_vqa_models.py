"""The five VQA reference models: forward shapes, shared images, gradients, and a trace that
sees every convolution and attention op (so the accelerator simulator can cost them)."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from seqbench import ops
from seqbench.errors import SeqbenchError
from seqbench.models import MODEL_REGISTRY, build_model
from seqbench.ops import OpClass, OpHook

VQA_MODELS = ["cnn-bow", "cnn-lstm", "san", "rn", "vl-transformer", "vl-dual"]
SMALL = {
    "num_answers": 10,
    "question_vocab_size": 30,
    "question_vector_size": 11,
    "image_size": 75,
    "max_question_len": 12,
    "channels": 8,
    "hidden": 32,
    "embed": 16,
    "question_dim": 24,
    "attention_dim": 16,
    "g_hidden": 32,
    "g_layers": 3,
    "f_hidden": 32,
    "d_model": 32,
    "num_heads": 4,
    "num_layers": 2,
    "d_ff": 64,
}


class Recorder(OpHook):
    def __init__(self) -> None:
        self.seen: list[tuple[OpClass, str]] = []

    def record(self, op_class, name, inputs, output, meta) -> None:  # noqa: ANN001
        self.seen.append((op_class, name))

    def classes(self) -> Counter:
        return Counter(c for c, _ in self.seen)


def inputs(n_images: int = 3, per_image: int = 2, length: int = 9, seed: int = 0):
    """Images [N,3,75,75], question ids [B,L] with padding, vectors [B,11], image_index [B]."""
    g = torch.Generator().manual_seed(seed)
    b = n_images * per_image
    images = torch.rand(n_images, 3, 75, 75, generator=g) * 2 - 1
    ids = torch.randint(4, 30, (b, length), generator=g)
    ids[0, 5:] = 0  # a shorter question, padded
    vectors = torch.zeros(b, 11)
    vectors[:, 0] = 1
    image_index = torch.arange(n_images).repeat_interleave(per_image)
    return images, ids, vectors, image_index


@pytest.mark.parametrize("name", VQA_MODELS)
def test_registered_as_vqa_models(name: str) -> None:
    assert MODEL_REGISTRY.get(name).family == "vqa"


@pytest.mark.parametrize("name", VQA_MODELS)
def test_forward_shapes_and_gradients(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, SMALL, family="vqa")
    images, ids, vectors, image_index = inputs()
    logits = model(images, ids, vectors, image_index)
    assert logits.shape == (6, 10) and torch.isfinite(logits).all()
    torch.nn.functional.cross_entropy(logits, torch.arange(6)).backward()
    cnn_grads = [p.grad for n, p in model.named_parameters() if "conv" in n or "proj" in n]
    assert cnn_grads and all(g is not None and g.abs().sum() > 0 for g in cnn_grads)


@pytest.mark.parametrize("name", VQA_MODELS)
def test_shared_images_equal_repeated_images(name: str) -> None:
    """Running the CNN once per image (image_index) is the same as once per question."""
    torch.manual_seed(0)
    model = build_model(name, SMALL, family="vqa").eval()
    images, ids, vectors, image_index = inputs()
    with torch.no_grad():
        shared = model(images, ids, vectors, image_index)
        repeated = model(images[image_index], ids, vectors, None)
    torch.testing.assert_close(shared, repeated, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", VQA_MODELS)
def test_padding_does_not_change_the_answer(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, SMALL, family="vqa").eval()
    images, ids, vectors, image_index = inputs()
    padded = torch.cat([ids, torch.zeros(6, 4, dtype=torch.long)], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(
            model(images, ids, vectors, image_index),
            model(images, padded, vectors, image_index),
            atol=1e-5,
            rtol=1e-4,
        )


@pytest.mark.parametrize("name", VQA_MODELS)
def test_trace_sees_convolutions_and_no_hidden_work(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, SMALL, family="vqa").eval()
    recorder = Recorder()
    with torch.no_grad(), ops.hooks(recorder):
        model(*inputs())
    classes = recorder.classes()
    assert classes[OpClass.CONV] == 4  # the 4-layer trunk
    assert classes[OpClass.MATMUL_STATIC] > 0
    # Batch norm in inference form is visible (scale and shift per conv block).
    assert (
        sum(1 for c, n in recorder.seen if c is OpClass.ELEMENTWISE and n.endswith(".scale")) == 4
    )


def test_attention_models_trace_their_attention() -> None:
    torch.manual_seed(0)
    for name, softmaxes, dynamic in [("san", 2, 2), ("vl-transformer", 2, 4)]:
        model = build_model(name, SMALL, family="vqa").eval()
        recorder = Recorder()
        with torch.no_grad(), ops.hooks(recorder):
            model(*inputs())
        classes = recorder.classes()
        assert classes[OpClass.SOFTMAX] == softmaxes, name  # 2 hops / 2 layers
        assert classes[OpClass.MATMUL_DYNAMIC] == dynamic, name  # p.V / Q.K^T and S.V
    names = [n for c, n in recorder.seen if c is OpClass.MATMUL_DYNAMIC]
    assert any(n.endswith(".qk") for n in names) and any(n.endswith(".sv") for n in names)


def test_recurrent_question_encoder_is_traced_per_step() -> None:
    model = build_model("cnn-lstm", SMALL, family="vqa").eval()
    recorder = Recorder()
    with torch.no_grad(), ops.hooks(recorder):
        model(*inputs(length=9))
    assert recorder.classes()[OpClass.RECURRENT_STEP] == 9


def test_rn_relates_all_object_pairs() -> None:
    model = build_model("rn", SMALL, family="vqa").eval()
    shapes = []

    class Shapes(OpHook):
        def record(self, op_class, name, inputs, output, meta) -> None:  # noqa: ANN001
            if name.endswith("g1.relu"):
                shapes.append(tuple(output.shape))

    with torch.no_grad(), ops.hooks(Shapes()):
        model(*inputs())
    assert shapes == [(6, 25, 25, 32)]  # 5x5 objects -> 625 ordered pairs per question


def test_rn_film_conditioning_option() -> None:
    torch.manual_seed(0)
    model = build_model("rn", {**SMALL, "g_conditioning": "film"}, family="vqa").eval()
    recorder = Recorder()
    with torch.no_grad(), ops.hooks(recorder):
        assert model(*inputs()).shape == (6, 10)
    assert any(n.endswith(".film_a") for _, n in recorder.seen)
    with pytest.raises(SeqbenchError, match="unknown g_conditioning"):
        build_model("rn", {**SMALL, "g_conditioning": "bilinear"})


def test_rn_question_conditioned_objects_and_product_tags() -> None:
    config = {**SMALL, "object_film": True, "coordinate_tags": "product", "relation_norm": True}
    model = build_model("rn", config, family="vqa")
    images, ids, vectors, image_index = inputs()
    logits = model(images, ids, vectors, image_index)
    assert logits.shape == (6, 10)
    logits.sum().backward()
    assert model.object_film.weight.grad.abs().sum() > 0
    # g's first layer reads [o, o*x, o*y, x, y]: three copies of the 8 channels plus (x, y).
    assert model.W_a.in_features == 3 * 8 + 2
    model.eval()
    recorder = Recorder()
    with ops.hooks(recorder):
        model(images, ids, vectors, image_index)
    names = {name for _, name in recorder.seen}
    assert {"relationnetwork.tag_x", "relationnetwork.object_film", "relation_norm.scale"} <= names
    with pytest.raises(SeqbenchError, match="coordinate_tags"):
        build_model("rn", {**SMALL, "coordinate_tags": "polar"})


def test_question_vector_encoder_option() -> None:
    model = build_model("rn", {**SMALL, "question_encoder": "vector"}, family="vqa")
    images, ids, vectors, image_index = inputs()
    assert model(images, ids, vectors, image_index).shape == (6, 10)
    with pytest.raises(SeqbenchError, match="needs question vectors"):
        build_model("rn", {**SMALL, "question_vector_size": 0, "question_encoder": "vector"})


def test_patch_embedding_variant_of_vl_transformer() -> None:
    model = build_model("vl-transformer", {**SMALL, "patch_size": 15}, family="vqa")
    assert model(*inputs()).shape == (6, 10)


def test_unknown_option_fails_with_suggestion() -> None:
    with pytest.raises(SeqbenchError, match="did you mean 'hidden'"):
        build_model("cnn-bow", {**SMALL, "hiden": 3})
    with pytest.raises(SeqbenchError, match="unknown question encoder"):
        build_model("san", {**SMALL, "question_encoder": "gru"})


def test_other_image_sizes() -> None:
    model = build_model("cnn-bow", {**SMALL, "image_size": 32}, family="vqa")
    images = torch.rand(2, 3, 32, 32)
    ids = torch.randint(4, 30, (2, 5))
    assert model(images, ids, torch.zeros(2, 11), None).shape == (2, 10)
