"""vl-dual (ViLBERT-style dual stream): co-attention shapes, ViLBERT's layer order and shape,
and a trace whose attention ops say which modality they work on."""

from __future__ import annotations

import pytest
import torch

from seqbench import ops
from seqbench.accel import workloads
from seqbench.errors import SeqbenchError
from seqbench.models import build_model
from seqbench.models.vqa_dual import CoAttention, schedule, shaped
from seqbench.models.vqa_parts import CellColours, VQAConfig
from seqbench.trace import Tracer

SMALL = {"num_answers": 10, "question_vocab_size": 30, "image_size": 75, "channels": 8,
         "hidden": 32, "d_model": 24, "num_heads": 2, "num_layers": 3, "d_ff": 48,
         "image_d_model": 40, "image_heads": 4, "image_layers": 2, "image_d_ff": 40,
         "co_d_model": 32, "co_heads": 4, "co_layers": 2}  # fmt: skip


def test_co_attention_with_different_lengths_and_widths() -> None:
    torch.manual_seed(0)
    text_over_image = ops.name_modules(CoAttention(d_q=24, d_kv=40, d_co=32, heads=4)).eval()
    T, V = torch.randn(2, 5, 24), torch.randn(2, 9, 40)
    mask = torch.ones(2, 9, dtype=torch.bool)
    mask[1, 6:] = False  # the second row has 6 real image tokens
    out = text_over_image(T, V, mask)
    assert out.shape == (2, 5, 24)
    changed = V.clone()
    changed[1, 6:] += 5.0  # masked keys/values change nothing
    torch.testing.assert_close(text_over_image(T, changed, mask), out)
    image_over_text = CoAttention(d_q=40, d_kv=24, d_co=32, heads=4)
    assert image_over_text(V, T, torch.ones(2, 5, dtype=torch.bool)).shape == (2, 9, 40)


def test_co_attention_width_must_split_into_heads() -> None:
    with pytest.raises(SeqbenchError, match="not divisible by co_heads"):
        CoAttention(8, 8, 30, 4)


def test_layer_order_is_vilberts() -> None:
    order = schedule(12, 6, 6)
    # ViLBERT-base: text layers 0-5, then per connection k: text layer 5+k, image layer k-1.
    assert order[:7] == [*(("text", i) for i in range(6)), ("co", 0)]
    assert order[7:10] == [("text", 6), ("image", 0), ("co", 1)]
    assert order[-2:] == [("image", 5), ("text", 11)]
    assert sorted(order) == sorted(
        [("text", i) for i in range(12)]
        + [("image", i) for i in range(6)]
        + [("co", k) for k in range(6)]
    )
    with pytest.raises(SeqbenchError, match="co_layers"):
        schedule(2, 1, 2)


def test_vilbert_base_shape_matches_the_simulators_workload() -> None:
    cfg = shaped(VQAConfig(dual_shape="vilbert-base"))
    ref = workloads.VILBERT_BASE
    assert (cfg.num_layers, cfg.d_model, cfg.num_heads, cfg.d_ff) == tuple(
        ref["text"][k] for k in ("layers", "hidden", "heads", "ffn")
    )
    assert (cfg.image_layers, cfg.image_d_model, cfg.image_heads, cfg.image_d_ff) == tuple(
        ref["visual"][k] for k in ("layers", "hidden", "heads", "ffn")
    )
    assert (cfg.co_d_model, cfg.co_heads) == (
        ref["connection"]["hidden"],
        ref["connection"]["heads"],
    )
    assert cfg.co_layers == len(ref["t_biattention_id"])
    with pytest.raises(SeqbenchError, match="unknown vl-dual shape"):
        shaped(VQAConfig(dual_shape="vilbert-huge"))


def test_trace_labels_every_attention_op_with_its_modality() -> None:
    torch.manual_seed(0)
    model = build_model("vl-dual", SMALL, family="vqa").eval()
    tracer = Tracer(stats=False)
    images, ids = torch.rand(2, 3, 75, 75), torch.randint(4, 30, (2, 7))
    with torch.no_grad(), ops.hooks(tracer):
        model(images, ids, torch.zeros(2, 0))
    attention = [r for r in tracer._records.values() if r.op_class in ("softmax", "matmul_dynamic")]
    modalities = {r.meta.get("modality") for r in attention}
    assert modalities == {"text", "image", "cross"}
    qk = {r.meta["modality"]: r for r in attention if r.name.endswith(".qk")}
    # text: [CLS] + 7 words; image: [IMG] + 25 regions of the 5x5 map; cross: 8 x 26 or 26 x 8.
    assert (qk["text"].dims["m"], qk["text"].dims["n"]) == (8, 8)
    assert (qk["image"].dims["m"], qk["image"].dims["n"]) == (26, 26)
    cross = {(r.dims["m"], r.dims["n"]) for r in attention if r.name.endswith(".qk")
             and r.meta["modality"] == "cross"}  # fmt: skip
    assert cross == {(8, 26), (26, 8)}
    softmaxes = [r for r in attention if r.op_class == "softmax"]
    # 3 text + 2 image self-attentions, 2 connection layers x 2 directions.
    assert sum(r.count for r in softmaxes) == 3 + 2 + 2 * 2


def test_cell_colours_average_the_pixels_nearest_each_cell() -> None:
    torch.manual_seed(0)
    stem = ops.name_modules(CellColours(4, stride=16, side=5, image_size=75)).eval()
    # every cell's weights form a mean over its pixels, and every pixel belongs to one cell
    torch.testing.assert_close(stem.pool.sum(1), torch.ones(25))
    assert torch.equal((stem.pool > 0).sum(0), torch.ones(75 * 75, dtype=torch.long))
    blank = torch.zeros(1, 3, 75, 75)
    ink = blank.clone()
    ink[0, 1, 14:19, 30:35] = 1.0  # a blot around pixel (x 32, y 16): cell row 1, column 2
    changed = (stem(ink) - stem(blank)).abs().sum(1)[0]  # [5, 5]
    assert changed[1, 2] > 0
    changed[1, 2] = 0
    assert changed.abs().max() == 0


def test_colour_channels_join_each_region_and_need_cnn_regions() -> None:
    torch.manual_seed(0)
    model = build_model("vl-dual", {**SMALL, "colour_channels": 6}, family="vqa").eval()
    assert model.W_img.in_features == 8 + 6 + 2  # CNN channels, colours, (x, y)
    logits = model(torch.rand(2, 3, 75, 75), torch.randint(4, 30, (2, 7)), torch.zeros(2, 0))
    assert logits.shape == (2, 10)
    with pytest.raises(SeqbenchError, match="colour_channels applies to CNN regions"):
        build_model("vl-dual", {**SMALL, "colour_channels": 6, "patch_size": 15}, family="vqa")


def test_image_tokens_can_carry_product_tags_and_a_norm() -> None:
    torch.manual_seed(0)
    options = {**SMALL, "coordinate_tags": "product", "image_embedding_norm": True}
    model = ops.name_modules(build_model("vl-dual", options, family="vqa")).eval()
    assert model.W_img.in_features == 3 * 8 + 2  # [o, o*x, o*y, x, y]
    tracer = Tracer(stats=False)
    with torch.no_grad(), ops.hooks(tracer):
        model(torch.rand(2, 3, 75, 75), torch.randint(4, 30, (2, 7)), torch.zeros(2, 0))
    names = {r.name for r in tracer._records.values()}
    assert {"image_norm", "tag_x", "tag_y"} <= {n.rsplit(".", 1)[-1] for n in names}
    with pytest.raises(SeqbenchError, match="unknown coordinate_tags"):
        build_model("vl-dual", {**SMALL, "coordinate_tags": "polar"}, family="vqa")


RN_SMALL = {"num_answers": 10, "question_vocab_size": 30, "image_size": 75, "channels": 8,
            "g_hidden": 16, "g_layers": 2, "f_hidden": 16, "embed": 8,
            "question_dim": 16}  # fmt: skip


def region_teacher_options() -> dict:
    return {**SMALL, "teacher": {"task": "sort-of-clevr", "model": "rn", "config": RN_SMALL}}


@pytest.mark.parametrize("name", ["vl-dual", "vl-transformer"])
def test_a_region_teacher_gives_the_regions_and_stays_frozen(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, region_teacher_options(), family="vqa")
    assert model.vision is None and model.W_img.in_features == 8 + 2
    assert set(model.teacher.state_dict()) == {f"cnn.{k}" for k in model.teacher.cnn.state_dict()}
    frozen = {k: v.clone() for k, v in model.teacher.state_dict().items()}
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    model.train()
    images, questions = torch.rand(4, 3, 75, 75), torch.randint(4, 30, (4, 7))
    loss = model(images, questions, torch.zeros(4, 0)).logsumexp(-1).mean()
    loss.backward()
    optimizer.step()
    # weights and batch-norm statistics unchanged; the streams did learn
    assert all(torch.equal(v, model.teacher.state_dict()[k]) for k, v in frozen.items())
    assert not model.teacher.training and model.W_img.weight.grad is not None
    with torch.no_grad():
        torch.testing.assert_close(
            model.regions_of(images), model.teacher.cnn.eval()(images), rtol=0, atol=0
        )


def test_a_region_teacher_must_be_trained_and_have_a_cnn() -> None:
    untrained = {**SMALL, "teacher": {"task": "sort-of-clevr", "model": "rn"}}
    with pytest.raises(SeqbenchError, match="not trained yet"):
        build_model("vl-dual", untrained, family="vqa")
    no_cnn = {**SMALL, "teacher": {"task": "sort-of-clevr", "model": "vl-transformer",
                                   "config": {**SMALL, "patch_size": 15}}}  # fmt: skip
    with pytest.raises(SeqbenchError, match="no CNN trunk"):
        build_model("vl-dual", no_cnn, family="vqa")


def test_the_teachers_cnn_weights_load_by_its_own_keys() -> None:
    from seqbench.train import load_teacher

    torch.manual_seed(0)
    model = build_model("vl-dual", region_teacher_options(), family="vqa")
    rn = build_model("rn", RN_SMALL, family="vqa")
    load_teacher(model, rn.state_dict())  # the whole rn: only its CNN is kept
    assert all(
        torch.equal(v, rn.cnn.state_dict()[k]) for k, v in model.teacher.cnn.state_dict().items()
    )
    partial = {k: v for k, v in rn.state_dict().items() if not k.startswith("cnn.blocks.0.")}
    with pytest.raises(SeqbenchError, match="teacher checkpoint lacks 'cnn.blocks.0"):
        load_teacher(model, partial)
