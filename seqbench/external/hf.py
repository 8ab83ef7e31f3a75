"""Hugging Face ``transformers`` models built offline from their configuration.

A well-known name (``hf_models.yaml``: ``bert-base-uncased``, ``gpt2``,
``google/vit-base-patch16-224``, ``openai/whisper-base``...) is its configuration class's
defaults plus the listed values; a local folder or ``config.json`` is read as written. Cost
needs shapes only, so the weights are random (seeded) unless the folder holds weights
(``model.safetensors`` / ``pytorch_model.bin``): then they are loaded, from disk only. Nothing
here touches the network. Attention runs in its explicit ("eager") form, so Q.K^T, softmax
and S.V are separate ops, as seqbench's own models write them.
"""

from __future__ import annotations

import difflib
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import torch
import yaml

from seqbench.errors import SeqbenchError
from seqbench.external.model import ExternalModel

KNOWN_FILE = Path(__file__).with_name("hf_models.yaml")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")
INPUT_KINDS = ("text", "seq2seq", "image", "audio")
RANDOM_WEIGHTS = (
    "random (seeded): cost is exact, but sparsity statistics describe random weights, "
    "not the trained model"
)


@cache
def known_models() -> dict[str, dict[str, Any]]:
    """The well-known names and how to build each (from ``hf_models.yaml``)."""
    return yaml.safe_load(KNOWN_FILE.read_text(encoding="utf-8"))


def _transformers() -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never download: configs are built here
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import transformers
    except ImportError as err:
        raise SeqbenchError(
            "--hf needs the transformers package", "pip install -e '.[hf]'"
        ) from err
    transformers.logging.set_verbosity_error()
    return transformers


def build_hf(
    name: str,
    *,
    seq_len: int = 128,
    batch: int = 1,
    seed: int = 0,
    shapes_only: bool = False,
) -> ExternalModel:
    """The model ``name`` (a known name, a local folder or a ``config.json``) with example
    inputs of ``batch`` x ``seq_len`` (text), or the configured image / audio size."""
    tf = _transformers()
    entry, config, folder = _resolve(tf, name)
    config._attn_implementation = "eager"  # explicit Q.K^T / softmax / S.V ops
    model_class = getattr(tf, entry.get("model") or "", None) or tf.AutoModel
    weights = _weights_in(folder)
    torch.manual_seed(seed)
    if weights and not shapes_only:
        model = model_class.from_pretrained(
            folder, config=config, local_files_only=True, attn_implementation="eager"
        )
        weights_note = f"loaded from {folder}"
    else:
        with torch.device("meta" if shapes_only else "cpu"):
            model = model_class(config) if entry.get("model") else tf.AutoModel.from_config(config)
        weights_note = "none (shapes only)" if shapes_only else RANDOM_WEIGHTS
    if entry.get("part"):
        model = getattr(model, entry["part"])
    model.eval()
    kind = entry.get("inputs") or _input_kind(model)
    inputs, unit, units = _inputs(kind, config, batch, seq_len, seed, shapes_only)
    source = {
        "kind": "hf",
        "name": name,
        "class": type(model).__name__,
        "config": type(config).__name__,
        "weights": weights_note,
        "random_weights": weights_note == RANDOM_WEIGHTS,
        "inputs": kind,
    }
    label = name.rstrip("/").split("/")[-1] if folder is None else Path(folder).name
    if entry.get("part"):
        label = f"{label}-{entry['part']}"  # only that part is priced: say so in the name
    return ExternalModel(label, model, inputs, unit, units, batch, source)


def _resolve(tf: Any, name: str) -> tuple[dict[str, Any], Any, Path | None]:
    known = known_models()
    if name in known:
        entry = known[name]
        config_class = getattr(tf, entry["config"])
        return entry, config_class(**(entry.get("kwargs") or {})), None
    path = Path(name).expanduser()
    config_file = path / "config.json" if path.is_dir() else path
    if not config_file.is_file():
        close = difflib.get_close_matches(name, list(known), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise SeqbenchError(
            f"--hf {name!r} is neither a known name nor a local folder with a config.json",
            f"{hint}known: {', '.join(sorted(known))}; or give a folder holding config.json",
        )
    try:
        raw = json.loads(config_file.read_text(encoding="utf-8"))
        model_type = raw.pop("model_type")
        config = tf.AutoConfig.for_model(model_type, **raw)
    except (ValueError, KeyError) as err:
        raise SeqbenchError(
            f"--hf: cannot read {config_file} as a transformers configuration ({err})",
            "it needs a model_type that transformers knows",
        ) from err
    architectures = raw.get("architectures") or []
    entry = {"model": architectures[0]} if architectures and hasattr(tf, architectures[0]) else {}
    return entry, config, config_file.parent


def _weights_in(folder: Path | None) -> bool:
    return folder is not None and any((folder / f).is_file() for f in WEIGHT_FILES)


def _input_kind(model: Any) -> str:
    main = getattr(model, "main_input_name", "input_ids")
    if main == "pixel_values":
        return "image"
    if main == "input_features":
        return "audio"
    return "seq2seq" if getattr(model.config, "is_encoder_decoder", False) else "text"


def _inputs(
    kind: str, config: Any, batch: int, seq_len: int, seed: int, shapes_only: bool
) -> tuple[dict[str, torch.Tensor], str, int]:
    """Example inputs (seeded), their unit and how many units one pass processes."""
    device = "meta" if shapes_only else "cpu"
    generator = torch.Generator().manual_seed(seed)

    def ids(length: int) -> torch.Tensor:
        vocab = int(getattr(config, "vocab_size", 1000))
        if shapes_only:
            return torch.empty(batch, length, dtype=torch.long, device=device)
        return torch.randint(0, vocab, (batch, length), generator=generator)

    def floats(*shape: int) -> torch.Tensor:
        if shapes_only:
            return torch.empty(*shape, device=device)
        return torch.randn(*shape, generator=generator)

    if kind in ("text", "seq2seq"):
        limit = _max_positions(config)
        if limit and seq_len > limit:
            raise SeqbenchError(
                f"--seq-len {seq_len} exceeds the model's {limit} positions",
                f"use --seq-len {limit} or less",
            )
        inputs = {"input_ids": ids(seq_len)}
        if kind == "seq2seq":
            inputs["decoder_input_ids"] = ids(seq_len)
        return inputs, "token", batch * seq_len
    if kind == "image":
        size, channels = int(config.image_size), int(getattr(config, "num_channels", 3))
        return {"pixel_values": floats(batch, channels, size, size)}, "sample", batch
    if kind == "audio":
        frames = 2 * int(config.max_source_positions)  # Whisper's encoder takes 30 s exactly
        return {"input_features": floats(batch, int(config.num_mel_bins), frames)}, "sample", batch
    raise SeqbenchError(f"unknown input kind {kind!r}", f"one of {INPUT_KINDS}")


def _max_positions(config: Any) -> int | None:
    for key in ("max_position_embeddings", "n_positions", "max_target_positions"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None
