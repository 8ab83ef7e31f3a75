"""Analytic traces of the papers' own workloads (no weights needed, built in milliseconds).

``validate`` prices these with the same cost model as real traces. The op names and shapes
mirror what :class:`~seqbench.trace.Tracer` records from seqbench's own models
(``encoder.layers.0.self_attention.W_q``, ``...qk``, ``...softmax``, ``...sv``), which a
test checks against a real traced Transformer. Sparsity statistics of a synthetic trace
are whatever the caller passes (the papers' measured values are not in stored material).
"""

from __future__ import annotations

from typing import Any

from seqbench.trace import BIT_GROUP, BIT_WIDTH, OpRecord, Trace


class _Builder:
    def __init__(self) -> None:
        self.records: list[OpRecord] = []

    def linear(self, name: str, m: int, k: int, n: int) -> None:
        self.records.append(
            OpRecord(
                name=name,
                op_class="matmul_static",
                shapes=[[m, k], [n, k]],
                out_shape=[m, n],
                macs=m * k * n,
                elems_in=m * k,
                elems_weight=k * n,
                elems_out=m * n,
                weight_operand=1,
                dims={"g": 1, "m": m, "k": k, "n": n},
            )
        )

    def conv(
        self, name: str, batch: int, out_hw: int, c_in: int, kernel: int, c_out: int, in_hw: int
    ) -> None:
        m, k = batch * out_hw * out_hw, c_in * kernel * kernel
        self.records.append(
            OpRecord(
                name=name,
                op_class="conv",
                shapes=[[batch, c_in, in_hw, in_hw], [c_out, c_in, kernel, kernel]],
                out_shape=[batch, c_out, out_hw, out_hw],
                macs=m * k * c_out,
                elems_in=batch * c_in * in_hw * in_hw,
                elems_weight=k * c_out,
                elems_out=m * c_out,
                weight_operand=1,
                dims={"g": 1, "m": m, "k": k, "n": c_out},
            )
        )

    def attention(self, name: str, batch: int, heads: int, lq: int, lk: int, d_head: int) -> None:
        g = batch * heads
        for suffix, m, k, n in (("qk", lq, d_head, lk), ("sv", lq, lk, d_head)):
            if suffix == "sv":
                self.vector(f"{name}.softmax", "softmax", g * lq, lk)
            self.records.append(
                OpRecord(
                    name=f"{name}.{suffix}",
                    op_class="matmul_dynamic",
                    shapes=[[batch, heads, m, k], [batch, heads, k, n]],
                    out_shape=[batch, heads, m, n],
                    macs=g * m * k * n,
                    elems_in=g * (m * k + k * n),
                    elems_out=g * m * n,
                    dims={"g": g, "m": m, "k": k, "n": n},
                    meta={"heads": heads},
                )
            )

    def vector(
        self, name: str, op_class: str, rows: int, cols: int, kind: str | None = None
    ) -> None:
        self.records.append(
            OpRecord(
                name=name,
                op_class=op_class,
                shapes=[[rows, cols]],
                out_shape=[rows, cols],
                elems_in=rows * cols,
                elems_out=rows * cols,
                dims={"rows": rows, "cols": cols},
                meta={"kind": kind} if kind else {},
            )
        )

    def mha(
        self, name: str, batch: int, heads: int, lq: int, lk: int, d_q: int, d_kv: int, d_model: int
    ) -> None:
        """Multi-head attention from a d_q query stream over a d_kv key/value stream."""
        self.linear(f"{name}.W_q", batch * lq, d_q, d_model)
        self.linear(f"{name}.W_k", batch * lk, d_kv, d_model)
        self.linear(f"{name}.W_v", batch * lk, d_kv, d_model)
        self.attention(name, batch, heads, lq, lk, d_model // heads)
        self.linear(f"{name}.W_o", batch * lq, d_model, d_q)

    def ffn(self, name: str, rows: int, d: int, d_ff: int, act: str = "relu") -> None:
        self.linear(f"{name}.W_1", rows, d, d_ff)
        self.vector(f"{name}.{act}", "elementwise", rows, d_ff, act)
        self.linear(f"{name}.W_2", rows, d_ff, d)

    def add_norm(self, name: str, rows: int, d: int) -> None:
        self.vector(f"{name}.add", "elementwise", rows, d, "add")
        self.vector(f"{name}.norm", "layernorm", rows, d)


def stats(
    attention: float = 0.0,
    tokens: float = 0.0,
    eff_bits: float | None = None,
    group_max_bits: float | None = None,
    query_len: float | None = None,
    key_len: float | None = None,
) -> dict[str, Any]:
    """A trace ``stats`` block with the same sparsity at every recorded level."""
    full = BIT_WIDTH - 1
    bits = {
        "zero_bit_fraction": 1 - (eff_bits if eff_bits is not None else full) / full,
        "mean_eff_bits": eff_bits if eff_bits is not None else full,
        "mean_group_max_bits": group_max_bits if group_max_bits is not None else (eff_bits or full),
    }
    return {
        "attention_sparsity": {str(t): attention for t in (0.001, 0.01, 0.05)},
        "token_sparsity": {str(t): tokens for t in (0.9, 0.95, 0.99)},
        "bit_sparsity": {"static_input": dict(bits), "dynamic_input": dict(bits)},
        "bit_width": BIT_WIDTH,
        "bit_group": BIT_GROUP,
        "seq_len": {"mean_query": query_len, "mean_key": key_len, "max_key": key_len},
    }


def transformer(
    *,
    d_model: int = 512,
    heads: int = 8,
    d_ff: int = 2048,
    encoder_layers: int = 6,
    decoder_layers: int = 6,
    src_len: int = 128,
    tgt_len: int = 128,
    vocab: int = 32000,
    batch: int = 1,
    trace_stats: dict[str, Any] | None = None,
) -> Trace:
    """Encoder-decoder Transformer, one teacher-forced pass (target tokens are the unit)."""
    b = _Builder()
    rs, rt = batch * src_len, batch * tgt_len
    for i in range(encoder_layers):
        p = f"encoder.layers.{i}"
        b.mha(f"{p}.self_attention", batch, heads, src_len, src_len, d_model, d_model, d_model)
        b.add_norm(f"{p}.add_norm_1", rs, d_model)
        b.ffn(f"{p}.ffn", rs, d_model, d_ff)
        b.add_norm(f"{p}.add_norm_2", rs, d_model)
    for i in range(decoder_layers):
        p = f"decoder.layers.{i}"
        b.mha(f"{p}.self_attention", batch, heads, tgt_len, tgt_len, d_model, d_model, d_model)
        b.add_norm(f"{p}.add_norm_1", rt, d_model)
        b.mha(f"{p}.cross_attention", batch, heads, tgt_len, src_len, d_model, d_model, d_model)
        b.add_norm(f"{p}.add_norm_2", rt, d_model)
        b.ffn(f"{p}.ffn", rt, d_model, d_ff)
        b.add_norm(f"{p}.add_norm_3", rt, d_model)
    if vocab:
        b.linear("output_projection", rt, d_model, vocab)
    meta = {
        "workload": "transformer",
        "d_model": d_model,
        "heads": heads,
        "d_ff": d_ff,
        "layers": [encoder_layers, decoder_layers],
        "seq": [src_len, tgt_len],
        "batch": batch,
    }
    return Trace(
        b.records,
        batch,
        rt,
        "token",
        trace_stats or stats(query_len=tgt_len, key_len=src_len),
        meta,
    )


# ViLBERT-base (Lu et al. NeurIPS 2019; config bert_base_6layer_6conect.json of the public
# code, as AllenNLP's config): text stream = BERT-base, visual stream 6 layers, connection
# (co-attention) layers in a shared bi_hidden space, each with both streams' FFNs.
VILBERT_BASE = {
    "text": {"layers": 12, "hidden": 768, "heads": 12, "ffn": 3072},
    "visual": {"layers": 6, "hidden": 1024, "heads": 8, "ffn": 1024},
    "connection": {"hidden": 1024, "heads": 8},
    "t_biattention_id": (6, 7, 8, 9, 10, 11),
    "v_biattention_id": (0, 1, 2, 3, 4, 5),
}


def vilbert_base(
    *,
    text_len: int = 20,
    regions: int = 37,
    batch: int = 1,
    trace_stats: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
) -> Trace:
    """ViLBERT-base encoder in the order of the reference ``BertEncoder.forward``: text layers
    up to each ``t_biattention_id``, visual layers up to each ``v_biattention_id``, then a
    connection layer (text queries over visual keys/values and the reverse, both at the shared
    1024 wide / 8 heads, projected back to each stream's width, then each stream's FFN);
    the remaining layers of both streams last. Embeddings and heads are not included.
    Tokens = text tokens + image regions."""
    cfg = config or VILBERT_BASE
    t, vis, co = cfg["text"], cfg["visual"], cfg["connection"]
    b = _Builder()
    rt, rv = batch * text_len, batch * regions

    def text_layer(i: int) -> None:
        p = f"text.layers.{i}"
        d = t["hidden"]
        b.mha(f"{p}.self_attention", batch, t["heads"], text_len, text_len, d, d, d)
        b.add_norm(f"{p}.add_norm_1", rt, d)
        b.ffn(f"{p}.ffn", rt, d, t["ffn"], "gelu")
        b.add_norm(f"{p}.add_norm_2", rt, d)

    def visual_layer(i: int) -> None:
        p = f"visual.layers.{i}"
        d = vis["hidden"]
        b.mha(f"{p}.self_attention", batch, vis["heads"], regions, regions, d, d, d)
        b.add_norm(f"{p}.add_norm_1", rv, d)
        b.ffn(f"{p}.ffn", rv, d, vis["ffn"], "gelu")
        b.add_norm(f"{p}.add_norm_2", rv, d)

    def connection_layer(i: int) -> None:
        p = f"co.layers.{i}"
        dt, dv, dc, hc = t["hidden"], vis["hidden"], co["hidden"], co["heads"]
        b.mha(f"{p}.text_attention", batch, hc, text_len, regions, dt, dv, dc)
        b.add_norm(f"{p}.text_norm", rt, dt)
        b.mha(f"{p}.visual_attention", batch, hc, regions, text_len, dv, dt, dc)
        b.add_norm(f"{p}.visual_norm", rv, dv)
        b.ffn(f"{p}.text_ffn", rt, dt, t["ffn"], "gelu")
        b.add_norm(f"{p}.text_ffn_norm", rt, dt)
        b.ffn(f"{p}.visual_ffn", rv, dv, vis["ffn"], "gelu")
        b.add_norm(f"{p}.visual_ffn_norm", rv, dv)

    t_start = v_start = 0
    for count, (v_end, t_end) in enumerate(
        zip(cfg["v_biattention_id"], cfg["t_biattention_id"], strict=True)
    ):
        for i in range(t_start, t_end):
            text_layer(i)
        for i in range(v_start, v_end):
            visual_layer(i)
        connection_layer(count)
        t_start, v_start = t_end, v_end
    for i in range(v_start, vis["layers"]):
        visual_layer(i)
    for i in range(t_start, t["layers"]):
        text_layer(i)
    meta = {"workload": "vilbert_base", "text_len": text_len, "regions": regions, "batch": batch}
    return Trace(b.records, batch, rt + rv, "token", trace_stats or stats(), meta)


def alexnet(*, batch: int = 64) -> Trace:
    """AlexNet inference (grouped convolutions counted at their real MACs)."""
    b = _Builder()
    b.conv("features.0", batch, 55, 3, 11, 96, 227)
    b.conv("features.1", batch, 27, 48, 5, 256, 27)
    b.conv("features.2", batch, 13, 256, 3, 384, 13)
    b.conv("features.3", batch, 13, 192, 3, 384, 13)
    b.conv("features.4", batch, 13, 192, 3, 256, 13)
    _classifier(b, batch, (9216, 4096, 4096, 1000))
    return Trace(
        b.records, batch, batch, "sample", stats(), {"workload": "alexnet", "batch": batch}
    )


# VGG-A..E (Simonyan & Zisserman, ICLR 2015, Table 1): 3x3 convolutions (1x1 where marked
# "1x1"), "M" a 2x2 max-pool; all five end in FC 25088-4096-4096-1000 on 224x224 inputs.
_VGG_BLOCKS = {
    "A": ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    "B": ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
    "C": ((64, 64), (128, 128), (256, 256, "1x1"), (512, 512, "1x1"), (512, 512, "1x1")),
    "D": ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    "E": ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4),
}


def _classifier(b: _Builder, batch: int, widths: tuple[int, ...]) -> None:
    for i, (k, n) in enumerate(zip(widths, widths[1:], strict=False)):
        b.linear(f"classifier.{i}", batch, k, n)
        b.vector(f"classifier.{i}.relu", "elementwise", batch, n, "relu")


def vgg(variant: str, *, batch: int = 64) -> Trace:
    """VGG-``variant`` (A..E) inference on 224x224 ImageNet images."""
    b = _Builder()
    hw, c_in, index = 224, 3, 0
    for block in _VGG_BLOCKS[variant]:
        for spec in block:
            c_out = c_in if spec == "1x1" else int(spec)
            kernel = 1 if spec == "1x1" else 3
            b.conv(f"features.{index}", batch, hw, c_in, kernel, c_out, hw)
            c_in, index = c_out, index + 1
        hw //= 2
    _classifier(b, batch, (c_in * hw * hw, 4096, 4096, 1000))
    meta = {"workload": f"vgg-{variant.lower()}", "batch": batch}
    return Trace(b.records, batch, batch, "sample", stats(), meta)


def mnist_mlp(*, batch: int = 64, widths: tuple[int, ...] = (784, 500, 250, 10)) -> Trace:
    """A fully connected MNIST classifier (layer widths as given)."""
    b = _Builder()
    _classifier(b, batch, widths)
    return Trace(b.records, batch, batch, "sample", stats(), {"workload": "mnist-mlp"})


def mnist_cnn(*, batch: int = 64) -> Trace:
    """Caffe's LeNet for MNIST: conv 5x5x20, pool, conv 5x5x50, pool, FC 800-500-10."""
    b = _Builder()
    b.conv("features.0", batch, 24, 1, 5, 20, 28)
    b.conv("features.1", batch, 8, 20, 5, 50, 12)
    _classifier(b, batch, (800, 500, 10))
    return Trace(b.records, batch, batch, "sample", stats(), {"workload": "mnist-cnn"})


def face_search(
    *, gallery: int = 1_000_000, dims: int = 512, queries: int = 1, k: int = 10
) -> Trace:
    """One nearest-neighbour search of ``queries`` face embeddings in a stored gallery."""
    rec = OpRecord(
        name="search",
        op_class="similarity_search",
        shapes=[[queries, dims], [gallery, dims]],
        out_shape=[queries, k],
        macs=queries * dims * gallery,
        elems_in=queries * dims,
        elems_weight=gallery * dims,
        elems_out=queries * k,
        weight_operand=1,
        dims={"g": 1, "m": queries, "k": dims, "n": gallery},
        meta={"k": k},
    )
    meta = {"workload": "face_search", "gallery": gallery, "dims": dims, "k": k}
    return Trace([rec], queries, queries, "query", stats(), meta)
