"""Recurrent encoder-decoders: RNN/GRU/LSTM (Cho et al. 2014) and GRU + Bahdanau attention.

Cells are explicit: the input projections ``X W_x`` of all time steps in one ``matmul_static``,
then per step one ``recurrent_step`` product ``H_{t-1} W_h`` and the gates as elementwise ops,
so the trace sees the sequential work. Padding needs no packing: at a pad step each row keeps
its previous state, so the final state is the one at the row's true last token.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from seqbench import ops
from seqbench.dropout import Dropout
from seqbench.models.attention import AdditiveAttention
from seqbench.models.registry import register_model
from seqbench.models.seq2seq import Seq2SeqConfig, State, select_rows

CellState = tuple[Tensor, ...]  # (H,) or, for the LSTM, (H, C); H first


class RecurrentCell(ops.Traced):
    """One layer in one direction; subclasses define the gates in :meth:`cell`."""

    num_gates = 1

    def __init__(self, input_dim: int, hidden_dim: int):
        super().__init__()
        self.hidden_dim = hidden_dim
        size = self.num_gates * hidden_dim
        self.W_x = ops.Linear(input_dim, size)
        self.W_h = nn.Parameter(torch.empty(size, hidden_dim))
        self.b_h = nn.Parameter(torch.empty(size))
        bound = 1 / math.sqrt(hidden_dim)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def initial_state(self, X: Tensor) -> CellState:
        """Zeros for a batch like ``X`` [B, ...]."""
        return (X.new_zeros(X.shape[0], self.hidden_dim),)

    def recurrent(self, H: Tensor) -> Tensor:
        """``H_{t-1} W_h^T + b_h`` for all gates at once: the step's weight product."""
        return ops.linear(
            H,
            self.W_h,
            self.b_h,
            op_class=ops.OpClass.RECURRENT_STEP,
            name=f"{self.trace_name}.W_h",
        )

    def _op(self, kind: str, *tensors: Tensor) -> Tensor:
        return ops.elementwise(kind, *tensors, name=f"{self.trace_name}.{kind}")

    def cell(self, XW_t: Tensor, state: CellState) -> CellState:
        """One step from the projected input ``XW_t`` [B, gates*h]."""
        raise NotImplementedError

    def scan(
        self, XW: Tensor, state: CellState, mask: Tensor | None = None, reverse: bool = False
    ) -> tuple[Tensor, CellState]:
        """Run over projected inputs ``XW`` [B,T,gates*h]; returns (H_t for all t [B,T,h], final).

        Where ``mask`` [B,T] is False the state is carried through unchanged.
        """
        outputs = []
        # unbind, not XW[:, t]: each indexing's backward would zero-fill all of [B,T,gates*h].
        XW_steps = XW.unbind(1)
        keeps = mask.unsqueeze(-1).unbind(1) if mask is not None else None
        steps = range(XW.shape[1] - 1, -1, -1) if reverse else range(XW.shape[1])
        for t in steps:
            new = self.cell(XW_steps[t], state)
            if keeps is not None:
                keep = keeps[t]
                new = tuple(torch.where(keep, n, s) for n, s in zip(new, state, strict=True))
            state = new
            outputs.append(state[0])
        if reverse:
            outputs.reverse()
        return torch.stack(outputs, dim=1), state


class RNNCell(RecurrentCell):
    """Elman: ``H_t = tanh(X_t W_x + H_{t-1} W_h + b)``."""

    def cell(self, XW_t: Tensor, state: CellState) -> CellState:
        return (self._op("tanh", self._op("add", XW_t, self.recurrent(state[0]))),)


class GRUCell(RecurrentCell):
    """``R, Z = sigmoid(.)``, ``H~ = tanh(X W_xh + R * (H W_hh + b_hh))``,
    ``H = Z*H + (1-Z)*H~``."""

    num_gates = 3

    def cell(self, XW_t: Tensor, state: CellState) -> CellState:
        h = self.hidden_dim
        H = state[0]
        HW = self.recurrent(H)
        # split/chunk rather than slices: a slice's backward zero-fills the whole tensor.
        XW_rz, XW_n = XW_t.split([2 * h, h], dim=1)
        HW_rz, HW_n = HW.split([2 * h, h], dim=1)
        R, Z = self._op("sigmoid", self._op("add", XW_rz, HW_rz)).chunk(2, dim=1)
        H_tilde = self._op("tanh", self._op("add", XW_n, self._op("mul", R, HW_n)))
        # Z*H + (1-Z)*H~ written as H~ + Z*(H - H~): one product fewer.
        return (self._op("add", H_tilde, self._op("mul", Z, self._op("sub", H, H_tilde))),)

    def fused_step(self, x: Tensor, state: CellState) -> CellState:
        """:meth:`cell` on an unprojected input through ATen's fused GRU cell: the same gates
        in the same (r, z, n) order, one call instead of ten small ops per decoder step. Used
        only when no op hook is installed (training, plain inference), never while tracing."""
        return (torch.gru_cell(x, state[0], self.W_x.weight, self.W_h, self.W_x.bias, self.b_h),)


class LSTMCell(RecurrentCell):
    """Gates ``I, F, O = sigmoid(.)``, ``C~ = tanh(.)``, ``C = F*C + I*C~``, ``H = O*tanh(C)``."""

    num_gates = 4

    def __init__(self, input_dim: int, hidden_dim: int):
        super().__init__(input_dim, hidden_dim)
        with torch.no_grad():
            self.b_h[hidden_dim : 2 * hidden_dim] += 1.0  # remember by default early in training

    def initial_state(self, X: Tensor) -> CellState:
        zeros = X.new_zeros(X.shape[0], self.hidden_dim)
        return zeros, zeros

    def cell(self, XW_t: Tensor, state: CellState) -> CellState:
        h = self.hidden_dim
        H, C = state
        A = self._op("add", XW_t, self.recurrent(H))
        A_ifo, A_c = A.split([3 * h, h], dim=1)
        I_t, F_t, O_t = self._op("sigmoid", A_ifo).chunk(3, dim=1)
        C_tilde = self._op("tanh", A_c)
        C = self._op("add", self._op("mul", F_t, C), self._op("mul", I_t, C_tilde))
        return self._op("mul", O_t, self._op("tanh", C)), C


CELLS: dict[str, type[RecurrentCell]] = {"rnn": RNNCell, "gru": GRUCell, "lstm": LSTMCell}


class RecurrentStack(ops.Traced):
    """``num_layers`` cells (two per layer when bidirectional), dropout between layers."""

    def __init__(
        self,
        cell: str,
        input_dim: int,
        hidden_dim: int,
        num_layers: int,
        dropout: float = 0.0,
        bidirectional: bool = False,
    ):
        super().__init__()
        dirs = 2 if bidirectional else 1
        dims = [input_dim] + [dirs * hidden_dim] * (num_layers - 1)
        self.cells = nn.ModuleList(CELLS[cell](d, hidden_dim) for d in dims)
        reverse_dims = dims if bidirectional else []
        self.reverse_cells = nn.ModuleList(CELLS[cell](d, hidden_dim) for d in reverse_dims)
        self.dropout = Dropout(dropout)

    def forward(
        self, X: Tensor, mask: Tensor | None = None, states: list[CellState] | None = None
    ) -> tuple[Tensor, list[CellState], list[CellState]]:
        """Whole sequences ``X`` [B,T,in] -> (top outputs [B,T,dirs*h], final states per layer,
        final reverse-direction states per layer (empty when unidirectional))."""
        finals, reverse_finals = [], []
        for i, cell in enumerate(self.cells):
            if i > 0:
                X = self.dropout(X)
            state = states[i] if states is not None else cell.initial_state(X)
            outputs, final = cell.scan(cell.W_x(X), state, mask)
            finals.append(final)
            if self.reverse_cells:
                back = self.reverse_cells[i]
                back_outputs, back_final = back.scan(back.W_x(X), back.initial_state(X), mask, True)
                outputs = torch.cat([outputs, back_outputs], dim=-1)
                reverse_finals.append(back_final)
            X = outputs
        return X, finals, reverse_finals

    def step(self, x: Tensor, states: list[CellState]) -> tuple[Tensor, list[CellState]]:
        """One time step ``x`` [B,in] through every layer (unidirectional stacks only)."""
        new_states = []
        fused = not ops.active_hooks()
        for i, cell in enumerate(self.cells):
            if i > 0:
                x = self.dropout(x)
            if fused and isinstance(cell, GRUCell):
                state = cell.fused_step(x, states[i])
            else:
                state = cell.cell(cell.W_x(x), states[i])
            new_states.append(state)
            x = state[0]
        return x, new_states


@dataclass
class RNNConfig(Seq2SeqConfig):
    """The recurrent encoder-decoders' options (Cho et al. 2014 sizes scaled to SCAN)."""

    emb_dim: int = 64
    hidden_dim: int = 256
    num_layers: int = 1
    dropout: float = 0.1


@dataclass
class AttentionGRUConfig(RNNConfig):
    """The attention GRU's options: an RNN's, and a bidirectional encoder by default."""

    bidirectional: bool = True


class Seq2SeqRNN(ops.Traced):
    """Cho et al. 2014: the encoder's last state ``c`` is the decoder's initial state and is
    concatenated to every decoder input ``[e(y_{t-1}); c]``."""

    def __init__(self, cell: str, cfg: RNNConfig):
        super().__init__()
        self.pad_id, self.bos_id, self.eos_id = cfg.pad_id, cfg.bos_id, cfg.eos_id
        emb_dim, hidden_dim = cfg.emb_dim, cfg.hidden_dim
        self.src_embedding = ops.Embedding(cfg.src_vocab_size, emb_dim, padding_idx=cfg.pad_id)
        self.tgt_embedding = ops.Embedding(cfg.tgt_vocab_size, emb_dim, padding_idx=cfg.pad_id)
        self.encoder = RecurrentStack(cell, emb_dim, hidden_dim, cfg.num_layers, cfg.dropout)
        self.decoder = RecurrentStack(
            cell, emb_dim + hidden_dim, hidden_dim, cfg.num_layers, cfg.dropout
        )
        self.output = ops.Linear(hidden_dim, cfg.tgt_vocab_size)
        self.dropout = Dropout(cfg.dropout)

    def start(self, src: Tensor) -> State:
        """Encode ``src`` Long[B,S]: the context is the top layer's last state; the last states
        of all layers seed the decoder."""
        X = self.dropout(self.src_embedding(src))
        _, finals, _ = self.encoder(X, src != self.pad_id)
        return {"context": finals[-1][0], "states": finals}

    def _inputs(self, tokens: Tensor, context: Tensor) -> Tensor:
        E = self.dropout(self.tgt_embedding(tokens))
        return torch.cat([E, context.expand(*E.shape[:-1], context.shape[-1])], dim=-1)

    def forward(self, src: Tensor, tgt_in: Tensor) -> Tensor:
        """Long[B,S] x Long[B,T] -> logits [B,T,V] (teacher forcing)."""
        state = self.start(src)
        X = self._inputs(tgt_in, state["context"].unsqueeze(1))
        Y, _, _ = self.decoder(X, None, state["states"])
        return self.output(self.dropout(Y))

    def step(self, state: State, tokens: Tensor) -> tuple[Tensor, State]:
        """Feed ``tokens`` Long[B]; returns (logits [B,V], new state)."""
        top, states = self.decoder.step(self._inputs(tokens, state["context"]), state["states"])
        return self.output(top), {**state, "states": states}

    def select(self, state: State, index: Tensor) -> State:
        """Keep batch rows ``index`` Long[N]."""
        return select_rows(state, index)


class Seq2SeqAttentionGRU(ops.Traced):
    """Bahdanau et al. 2015: a (bi)GRU encoder; at step t the previous decoder state
    ``s_{t-1}`` queries all encoder states, the context ``c_t`` joins the input ``e(y_{t-1})``,
    and the logits come from ``[s_t; c_t]``.

    With a bidirectional encoder each decoder layer starts from
    ``tanh(W_bridge [forward last; backward first])``; otherwise from the encoder's last state.
    """

    def __init__(self, cfg: AttentionGRUConfig):
        super().__init__()
        self.pad_id, self.bos_id, self.eos_id = cfg.pad_id, cfg.bos_id, cfg.eos_id
        emb_dim, hidden_dim, num_layers = cfg.emb_dim, cfg.hidden_dim, cfg.num_layers
        key_dim = (2 if cfg.bidirectional else 1) * hidden_dim
        self.src_embedding = ops.Embedding(cfg.src_vocab_size, emb_dim, padding_idx=cfg.pad_id)
        self.tgt_embedding = ops.Embedding(cfg.tgt_vocab_size, emb_dim, padding_idx=cfg.pad_id)
        self.encoder = RecurrentStack(
            "gru", emb_dim, hidden_dim, num_layers, cfg.dropout, cfg.bidirectional
        )
        self.bridge = nn.ModuleList(
            ops.Linear(key_dim, hidden_dim) for _ in range(num_layers if cfg.bidirectional else 0)
        )
        self.attention = AdditiveAttention(hidden_dim, key_dim, hidden_dim)
        self.decoder = RecurrentStack("gru", emb_dim + key_dim, hidden_dim, num_layers, cfg.dropout)
        self.output = ops.Linear(hidden_dim + key_dim, cfg.tgt_vocab_size)
        self.dropout = Dropout(cfg.dropout)

    def start(self, src: Tensor) -> State:
        """Encode ``src`` Long[B,S]; keeps the encoder states and their key projection."""
        mask = src != self.pad_id
        H, finals, reverse_finals = self.encoder(self.dropout(self.src_embedding(src)), mask)
        states = finals
        if self.bridge:
            states = [
                (ops.elementwise("tanh", W(torch.cat([f[0], r[0]], dim=-1)), name=W.trace_name),)
                for W, f, r in zip(self.bridge, finals, reverse_finals, strict=True)
            ]
        keys = self.attention.project_keys(H)
        padding = ~mask
        # A flag, not a tensor: beam search's row selection keeps it (still a safe answer).
        has_empty_row = bool(padding.all(dim=-1).any())
        return {
            "H": H,
            "keys": keys,
            "mask": mask,
            "padding": padding,
            "has_empty_row": has_empty_row,
            "states": states,
        }

    def _advance(self, state: State, e_t: Tensor) -> tuple[Tensor, State]:
        """One decoder step from the embedded previous token ``e_t`` [B,emb];
        returns ([s_t; c_t] [B, h + key_dim], new state)."""
        s_prev = state["states"][-1][0]
        context, _ = self.attention(
            s_prev,
            state["H"],
            state["H"],
            state["mask"],
            projected_keys=state["keys"],
            padding=state["padding"],
            has_empty_row=state["has_empty_row"],
        )
        s_t, states = self.decoder.step(torch.cat([e_t, context], dim=-1), state["states"])
        return torch.cat([s_t, context], dim=-1), {**state, "states": states}

    def forward(self, src: Tensor, tgt_in: Tensor) -> Tensor:
        """Long[B,S] x Long[B,T] -> logits [B,T,V] (teacher forcing)."""
        state = self.start(src)
        E = self.dropout(self.tgt_embedding(tgt_in))  # every step's input in one lookup
        features = []
        for t in range(tgt_in.shape[1]):
            f, state = self._advance(state, E[:, t])
            features.append(f)
        return self.output(self.dropout(torch.stack(features, dim=1)))

    def step(self, state: State, tokens: Tensor) -> tuple[Tensor, State]:
        """Feed ``tokens`` Long[B]; returns (logits [B,V], new state)."""
        features, state = self._advance(state, self.dropout(self.tgt_embedding(tokens)))
        return self.output(features), state

    def select(self, state: State, index: Tensor) -> State:
        """Keep batch rows ``index`` Long[N]."""
        return select_rows(state, index)


def _register_cho(cell: str) -> None:
    description = f"{cell.upper()} encoder-decoder (Cho et al. 2014)"

    @register_model(cell, family="translation", description=description)
    def build(config: dict[str, Any]) -> nn.Module:
        return Seq2SeqRNN(cell, RNNConfig.from_dict(config, cell))


for _cell in ("rnn", "gru", "lstm"):
    _register_cho(_cell)


@register_model(
    "gru-attn", family="translation", description="GRU encoder-decoder with Bahdanau attention"
)
def build_gru_attention(config: dict[str, Any]) -> nn.Module:
    """GRU encoder-decoder with additive (Bahdanau) attention."""
    return Seq2SeqAttentionGRU(AttentionGRUConfig.from_dict(config, "gru-attn"))
