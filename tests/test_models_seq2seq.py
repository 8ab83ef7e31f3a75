"""Translation models: shapes, causality, padding, incremental == teacher forcing, trace, learning."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

from seqbench import ops
from seqbench.decode import greedy
from seqbench.errors import SeqbenchError
from seqbench.models import build_model
from seqbench.models.attention import MultiHeadAttention, SinusoidalPositionalEncoding
from seqbench.models.transformer import TransformerEncoder

SRC_V, TGT_V = 11, 13
TINY: dict[str, dict[str, Any]] = {
    "rnn": {"emb_dim": 8, "hidden_dim": 16, "num_layers": 2},
    "gru": {"emb_dim": 8, "hidden_dim": 16, "num_layers": 2},
    "lstm": {"emb_dim": 8, "hidden_dim": 16, "num_layers": 2},
    "gru-attn": {"emb_dim": 8, "hidden_dim": 16, "num_layers": 2},
    "transformer": {
        "d_model": 16,
        "num_heads": 2,
        "num_encoder_layers": 2,
        "num_decoder_layers": 2,
        "d_ff": 32,
    },
}
MODELS = list(TINY)


def make(name: str, **overrides: Any) -> torch.nn.Module:
    torch.manual_seed(0)
    config = {"src_vocab_size": SRC_V, "tgt_vocab_size": TGT_V, **TINY[name], **overrides}
    return build_model(name, config, family="translation").eval()


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    src = torch.randint(4, SRC_V, (3, 6), generator=g)
    src[1, 4:] = 0  # a shorter source
    tgt_in = torch.randint(4, TGT_V, (3, 5), generator=g)
    tgt_in[:, 0] = 2
    return src, tgt_in


@pytest.mark.parametrize("name", MODELS)
def test_forward_shape(name: str, batch) -> None:
    src, tgt_in = batch
    assert make(name)(src, tgt_in).shape == (3, 5, TGT_V)


@pytest.mark.parametrize("name", MODELS)
def test_decoder_is_causal(name: str, batch) -> None:
    model = make(name)
    src, tgt_in = batch
    changed = tgt_in.clone()
    changed[:, 3] = (changed[:, 3] + 1 - 4) % (TGT_V - 4) + 4
    before, after = model(src, tgt_in), model(src, changed)
    torch.testing.assert_close(before[:, :3], after[:, :3])
    assert not torch.allclose(before[:, 3:], after[:, 3:])


@pytest.mark.parametrize("name", MODELS)
def test_source_padding_is_ignored(name: str, batch) -> None:
    model = make(name)
    src, tgt_in = batch
    padded = F.pad(src, (0, 4), value=0)
    torch.testing.assert_close(model(src, tgt_in), model(padded, tgt_in), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("name", "use_cache"),
    [(n, True) for n in MODELS] + [("transformer", False)],
)
def test_step_by_step_equals_teacher_forcing(name: str, use_cache: bool, batch) -> None:
    model = make(name, use_cache=use_cache) if name == "transformer" else make(name)
    src, tgt_in = batch
    with torch.no_grad():
        expected = model(src, tgt_in)
        state = model.start(src)
        steps = []
        for t in range(tgt_in.shape[1]):
            logits, state = model.step(state, tgt_in[:, t])
            steps.append(logits)
    torch.testing.assert_close(torch.stack(steps, dim=1), expected, atol=1e-5, rtol=1e-5)


def test_select_gathers_rows(batch) -> None:
    model = make("transformer")
    src, tgt_in = batch
    index = torch.tensor([2, 0, 0])
    with torch.no_grad():
        state = model.select(model.start(src), index)
        logits, _ = model.step(state, tgt_in[:, 0])
        expected, _ = model.step(model.start(src[index]), tgt_in[:, 0])
    torch.testing.assert_close(logits, expected)


class Recorder(ops.OpHook):
    def __init__(self) -> None:
        self.ops: list[tuple[ops.OpClass, str]] = []

    def record(self, op_class, name, inputs, output, meta) -> None:
        self.ops.append((op_class, name))


def recorded(name: str, batch) -> list[tuple[ops.OpClass, str]]:
    recorder = Recorder()
    with ops.hooks(recorder), torch.no_grad():
        make(name)(*batch)
    return recorder.ops


def test_transformer_trace_shows_attention_ops(batch) -> None:
    trace = recorded("transformer", batch)
    dynamic = [n for c, n in trace if c == ops.OpClass.MATMUL_DYNAMIC]
    assert any(n.endswith(".qk") for n in dynamic) and any(n.endswith(".sv") for n in dynamic)
    assert "decoder.layers.1.cross_attention.qk" in dynamic
    assert "encoder.layers.0.self_attention.sv" in dynamic
    assert sum(c == ops.OpClass.SOFTMAX for c, _ in trace) == 2 + 2 * 2  # enc self, dec self+cross
    assert any(c == ops.OpClass.MATMUL_STATIC for c, _ in trace)
    assert any(c == ops.OpClass.LAYERNORM for c, _ in trace)


@pytest.mark.parametrize("name", ["rnn", "gru", "lstm", "gru-attn"])
def test_recurrent_models_trace_per_step_work(name: str, batch) -> None:
    trace = recorded(name, batch)
    steps = [n for c, n in trace if c == ops.OpClass.RECURRENT_STEP]
    src, tgt_in = batch
    directions = 2 if name == "gru-attn" else 1
    # one recurrent product per layer per time step (2 layers), encoder and decoder
    assert len(steps) == 2 * (directions * src.shape[1] + tgt_in.shape[1])
    assert "decoder.cells.0.W_h" in steps
    if name == "gru-attn":
        assert any(c == ops.OpClass.SOFTMAX for c, _ in trace)


def test_unknown_config_key_raises() -> None:
    with pytest.raises(SeqbenchError, match="hiden_dim.*did you mean 'hidden_dim'"):
        build_model("gru", {"src_vocab_size": 5, "tgt_vocab_size": 5, "hiden_dim": 8})
    with pytest.raises(SeqbenchError, match="num_layers"):
        build_model("transformer", {"src_vocab_size": 5, "tgt_vocab_size": 5, "num_layers": 2})
    with pytest.raises(SeqbenchError, match="needs option 'tgt_vocab_size'"):
        build_model("lstm", {"src_vocab_size": 5})


def test_untied_transformer_and_unidirectional_gru_attn(batch) -> None:
    assert make("transformer", tie_output=False)(*batch).shape == (3, 5, TGT_V)
    assert make("gru-attn", bidirectional=False)(*batch).shape == (3, 5, TGT_V)


def test_encoder_blocks_are_reusable() -> None:
    torch.manual_seed(0)
    encoder = TransformerEncoder(d_model=16, num_heads=4, num_layers=2, d_ff=32, dropout=0.0)
    positions = SinusoidalPositionalEncoding(16)
    X = positions(torch.randn(2, 5, 16))
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    out = encoder(X, mask)
    assert out.shape == (2, 5, 16)
    # the real tokens of row 1 ignore what sits at its padding positions
    X2 = X.clone()
    X2[1, 3:] = 7.0
    torch.testing.assert_close(encoder(X2, mask)[1, :3], out[1, :3])
    attention = MultiHeadAttention(16, 4)
    assert attention(X, X, X).shape == (2, 5, 16)


def reverse_batch(g: torch.Generator, n: int, max_len: int = 5):
    """Random sequences over ids 4..9 and their reversals (with bos / eos)."""
    lengths = torch.randint(1, max_len + 1, (n,), generator=g).tolist()
    src = torch.zeros(n, max_len, dtype=torch.long)
    tgt_in = torch.zeros(n, max_len + 1, dtype=torch.long)
    tgt_out = torch.zeros_like(tgt_in)
    for i, length in enumerate(lengths):
        seq = torch.randint(4, 10, (length,), generator=g)
        src[i, :length] = seq
        tgt_in[i, 0] = 2
        tgt_in[i, 1 : length + 1] = seq.flip(0)
        tgt_out[i, :length] = seq.flip(0)
        tgt_out[i, length] = 3
    return src, tgt_in, tgt_out


@pytest.mark.parametrize(
    ("name", "config", "steps", "lr"),
    [
        (
            "transformer",
            {
                "d_model": 32,
                "num_heads": 2,
                "num_encoder_layers": 1,
                "num_decoder_layers": 1,
                "d_ff": 64,
                "dropout": 0.0,
            },
            400,
            3e-3,
        ),
        ("gru-attn", {"emb_dim": 16, "hidden_dim": 32, "dropout": 0.0}, 200, 1e-2),
    ],
)
def test_models_learn_to_reverse(name: str, config: dict[str, Any], steps: int, lr: float) -> None:
    torch.manual_seed(0)
    model = build_model(name, {"src_vocab_size": 10, "tgt_vocab_size": 10, **config})
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        src, tgt_in, tgt_out = reverse_batch(g, 64)
        loss = F.cross_entropy(model(src, tgt_in).flatten(0, 1), tgt_out.flatten(), ignore_index=0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    src, _, tgt_out = reverse_batch(torch.Generator().manual_seed(1), 200)
    predictions = greedy(model, src, max_len=6)
    references = [[t for t in row if t > 3] for row in tgt_out.tolist()]
    accuracy = sum(p == r for p, r in zip(predictions, references, strict=True)) / len(references)
    assert accuracy >= 0.9
    assert model.training  # greedy restored the training mode


def test_fused_gru_step_matches_the_traced_gates() -> None:
    from seqbench.models.rnn import GRUCell

    torch.manual_seed(0)
    cell = GRUCell(7, 5)
    x, h = torch.randn(3, 7, requires_grad=True), torch.randn(3, 5)
    traced = cell.cell(cell.W_x(x), (h,))[0]
    fused = cell.fused_step(x, (h,))[0]
    torch.testing.assert_close(fused, traced)
    (g_traced,) = torch.autograd.grad(traced.sum(), x)
    (g_fused,) = torch.autograd.grad(fused.sum(), x)
    torch.testing.assert_close(g_fused, g_traced)
