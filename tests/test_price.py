"""seqbench price: a user's module from a file, Hugging Face models from their configuration,
hand-counted MACs, the models board, and the bad inputs."""

from __future__ import annotations

import json
import textwrap

import pytest
import torch
from click.testing import CliRunner
from torch.utils.flop_counter import FlopCounterMode

from seqbench import results
from seqbench.cli.main import cli
from seqbench.errors import SeqbenchError
from seqbench.external.loader import load_factory
from seqbench.trace_aten import trace_forward

transformers = pytest.importorskip("transformers")  # the .[hf] extra; CI installs it

USER_MODEL = """
import torch
from torch import nn

class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(100, 32)
        self.encoder = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(32, 4, 64, batch_first=True), num_layers=2
        )
        self.head = nn.Linear(32, 5)

    def forward(self, ids):
        return self.head(self.encoder(self.embed(ids)))

def build(seq_len=16, batch=1):
    torch.manual_seed(0)
    ids = torch.randint(0, 100, (batch, seq_len))
    return Tagger(), (ids,), {"unit": "token", "units": batch * seq_len}

def broken():
    raise ValueError("no weights here")

def wrong_inputs():
    return Tagger(), {"tokens": torch.zeros(1, 4, dtype=torch.long)}
"""


@pytest.fixture
def user_file(tmp_path):
    path = tmp_path / "tagger.py"
    path.write_text(textwrap.dedent(USER_MODEL), encoding="utf-8")
    return path


def macs(trace, op_class: str) -> int:  # noqa: ANN001
    return sum(r.macs * r.count for r in trace.records if r.op_class == op_class)


def test_a_user_module_from_a_file_is_priced_and_shown_on_the_models_board(
    user_file, tmp_path, monkeypatch
):
    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    args = ["price", "--module", f"{user_file}:build", "--seq-len", "12", "--batch", "2"]
    result = runner.invoke(cli, [*args, "--accel", "cpu,retransformer"])
    assert result.exit_code == 0, result.output
    records = [r for r in results.load_all() if r["model"] == "tagger-build"]
    assert {r["profile"] for r in records} == {"cpu", "retransformer"}
    record = records[0]
    assert record["cost_only"] and record["quality"]["metrics"] == {}
    assert record["host"]["units"] == 24 and record["host"]["unit"] == "token"
    # nn.TransformerEncoderLayer (fast path off): 2 layers x 24 tokens x (4 d^2 + 2 d d_ff)
    # static MACs, the head 24 x 32 x 5, and 2 x 2 x (B h) L L d_head dynamic ones.
    ops = record["trace"]["ops"]
    assert ops["matmul_static"]["macs"] == 2 * 24 * (4 * 32 * 32 + 2 * 32 * 64) + 24 * 32 * 5
    assert ops["matmul_dynamic"]["macs"] == 2 * 2 * (2 * 4) * 12 * 12 * 8
    out = tmp_path / "boards"
    assert runner.invoke(cli, ["report", "--format", "md", "--out", str(out)]).exit_code == 0
    board = (out / "models.md").read_text(encoding="utf-8")
    assert "| price | forward | 2 | tagger-build | retransformer |" in board
    assert "| module: tagger.py:build |" in board and "| µJ/sample |" in board
    assert "## tagger-build" in board and "| encoder.layers.1 |" in board


def test_a_factory_that_raises_is_one_line_naming_it(user_file, tmp_path, monkeypatch):
    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path / "home"))
    with pytest.raises(SeqbenchError, match=r"broken\(\) in .*raised ValueError: no weights"):
        load_factory(f"{user_file}:broken")
    result = CliRunner().invoke(cli, ["price", "--module", f"{user_file}:broken"])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_a_model_whose_forward_needs_inputs_not_given_is_refused(user_file):
    model = load_factory(f"{user_file}:wrong_inputs")
    with pytest.raises(SeqbenchError, match="does not take the example inputs"):
        trace_forward(model.module, model.inputs)
    with pytest.raises(SeqbenchError, match="no callable 'nope'"):
        load_factory(f"{user_file}:nope")
    with pytest.raises(SeqbenchError, match="neither a known name"):
        from seqbench.external.hf import build_hf

        build_hf("bert-base-uncasd")


def bert_macs(layers: int, d: int, d_ff: int, tokens: int, heads: int) -> tuple[int, int]:
    """(static, dynamic) MACs of a BERT-style encoder over one sequence of ``tokens``."""
    static = layers * tokens * (4 * d * d + 2 * d * d_ff)
    dynamic = layers * 2 * heads * tokens * (d // heads) * tokens
    return static, dynamic


def test_bert_base_at_128_tokens_matches_the_hand_count_and_the_flop_counter():
    from seqbench.external.hf import build_hf

    model = build_hf("bert-base-uncased", seq_len=128)
    trace = trace_forward(model.module, model.inputs, unit="token", units=128)
    static, dynamic = bert_macs(12, 768, 3072, 128, 12)
    assert macs(trace, "matmul_static") == static + 768 * 768  # + the pooler on [CLS]
    assert macs(trace, "matmul_dynamic") == dynamic
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.module(**model.inputs)
    # flop_counter: 2 FLOPs per MAC of every product, nothing for softmax/norm/elementwise
    assert counter.get_total_flops() == 2 * (static + 768 * 768 + dynamic)
    assert model.source["random_weights"] and trace.stats["attention_sparsity"]
    names = {r.name for r in trace.records}
    assert {"encoder.layer.3.attention.self.query", "encoder.layer.3.attention.self.qk"} <= names


def test_gpt2_small_at_1024_tokens_counts_from_shapes():
    # On the meta device: the real forward (~146 GMACs) is too slow for a unit test.
    from seqbench.external.hf import build_hf

    model = build_hf("gpt2", seq_len=1024, shapes_only=True)
    trace = trace_forward(model.module, model.inputs, unit="token", units=1024)
    static, dynamic = bert_macs(12, 768, 3072, 1024, 12)
    assert macs(trace, "matmul_static") == static + 1024 * 768 * 50257  # + the tied lm_head
    assert macs(trace, "matmul_dynamic") == dynamic
    assert trace.stats["attention_sparsity"] == {}  # no values on meta: no statistics


def test_vit_b16_at_224_counts_patches_and_tokens():
    from seqbench.external.hf import build_hf

    model = build_hf("google/vit-base-patch16-224", shapes_only=True)
    trace = trace_forward(model.module, model.inputs)
    tokens = (224 // 16) ** 2 + 1  # 196 patches + [CLS]
    static, dynamic = bert_macs(12, 768, 3072, tokens, 12)
    assert macs(trace, "conv") == 196 * 768 * (3 * 16 * 16)  # the patch embedding
    assert macs(trace, "matmul_static") == static + 768 * 1000  # + the classifier on [CLS]
    assert macs(trace, "matmul_dynamic") == dynamic


def test_a_local_config_json_is_read_as_written(tmp_path):
    from seqbench.external.hf import build_hf

    config = {"model_type": "bert", "hidden_size": 64, "num_hidden_layers": 2}
    config |= {"num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 500}
    (tmp_path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    model = build_hf(str(tmp_path), seq_len=8)
    trace = trace_forward(model.module, model.inputs)
    static, dynamic = bert_macs(2, 64, 128, 8, 4)
    assert macs(trace, "matmul_static") == static + 64 * 64
    assert macs(trace, "matmul_dynamic") == dynamic


def test_a_local_folder_with_weights_loads_them_from_disk(tmp_path):
    from seqbench.external.hf import build_hf

    torch.manual_seed(1)
    config = transformers.BertConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64
    )
    config.vocab_size = 100
    saved = transformers.BertModel(config)
    saved.save_pretrained(tmp_path)
    model = build_hf(str(tmp_path), seq_len=8)
    assert model.source["weights"] == f"loaded from {tmp_path}"
    assert not model.source["random_weights"]
    loaded = dict(model.module.named_parameters())
    for name, value in saved.named_parameters():
        assert torch.equal(loaded[name], value), name
