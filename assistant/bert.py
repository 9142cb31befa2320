"""A BERT encoder in plain torch, for the embedding models that are one.

all-MiniLM-L6-v2 is a six-layer BERT. Through transformers, loading it cost 5.5 s of a
fresh process's start-up here (after torch's own import), nearly all of it importing
transformers and its modelling code (which pulls in torch.distributed and the hub
kernels); the forward pass itself is a few matrix products. This module reads the same
`model.safetensors` and `tokenizer.json` with `safetensors` and `tokenizers` and
computes the same hidden states
(`tests/test_embeddings_fast.py` compares the vectors with sentence-transformers').

Only the configuration the bundled model uses is accepted (`BertModel`, absolute
positions, exact GELU); `read_config` says so, and any other model goes through
transformers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional


@dataclass(frozen=True)
class BertConfig:
    hidden_size: int
    layers: int
    heads: int
    intermediate_size: int
    layer_norm_eps: float
    vocab_size: int
    max_positions: int
    type_vocab_size: int


def read_config(directory: Path) -> BertConfig | None:
    """The model's configuration when it is a BERT this module computes, else None."""
    try:
        config: dict[str, Any] = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        if not (
            config.get("architectures") == ["BertModel"]
            and config.get("model_type") == "bert"
            and config.get("hidden_act") == "gelu"
            and config.get("position_embedding_type", "absolute") == "absolute"
            and (directory / "model.safetensors").is_file()
            and (directory / "tokenizer.json").is_file()
        ):
            return None
        return BertConfig(
            hidden_size=int(config["hidden_size"]),
            layers=int(config["num_hidden_layers"]),
            heads=int(config["num_attention_heads"]),
            intermediate_size=int(config["intermediate_size"]),
            layer_norm_eps=float(config["layer_norm_eps"]),
            vocab_size=int(config["vocab_size"]),
            max_positions=int(config["max_position_embeddings"]),
            type_vocab_size=int(config["type_vocab_size"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


class _Layer(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        size = config.hidden_size
        self.heads = config.heads
        self.query = nn.Linear(size, size)
        self.key = nn.Linear(size, size)
        self.value = nn.Linear(size, size)
        self.attention_out = nn.Linear(size, size)
        self.attention_norm = nn.LayerNorm(size, eps=config.layer_norm_eps)
        self.intermediate = nn.Linear(size, config.intermediate_size)
        self.output = nn.Linear(config.intermediate_size, size)
        self.output_norm = nn.LayerNorm(size, eps=config.layer_norm_eps)

    def forward(self, hidden: torch.Tensor, attention_bias: torch.Tensor) -> torch.Tensor:
        batch, length, size = hidden.shape

        def split(projection: nn.Linear) -> torch.Tensor:
            return projection(hidden).view(batch, length, self.heads, size // self.heads).transpose(1, 2)

        context = functional.scaled_dot_product_attention(
            split(self.query), split(self.key), split(self.value), attn_mask=attention_bias
        )
        context = context.transpose(1, 2).reshape(batch, length, size)
        hidden = self.attention_norm(self.attention_out(context) + hidden)
        return self.output_norm(self.output(functional.gelu(self.intermediate(hidden))) + hidden)


class BertEncoder(nn.Module):
    """BERT's embeddings and encoder layers; returns the last hidden state."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.position_embeddings = nn.Embedding(config.max_positions, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.embedding_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.layers = nn.ModuleList(_Layer(config) for _ in range(config.layers))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        hidden = self.embedding_norm(
            self.word_embeddings(input_ids)
            + self.position_embeddings(positions)[None]
            + self.token_type_embeddings.weight[0]
        )
        # Padding is masked by a large negative bias, as transformers does.
        bias = (1.0 - attention_mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
        for layer in self.layers:
            hidden = layer(hidden, bias)
        return hidden

    def load(self, path: Path) -> BertEncoder:
        """Read the weights of a saved `BertModel` (its parameter names mapped to ours)."""
        from safetensors.torch import load_file

        saved = load_file(str(path))
        mapping = {
            "word_embeddings.weight": "embeddings.word_embeddings.weight",
            "position_embeddings.weight": "embeddings.position_embeddings.weight",
            "token_type_embeddings.weight": "embeddings.token_type_embeddings.weight",
            "embedding_norm.weight": "embeddings.LayerNorm.weight",
            "embedding_norm.bias": "embeddings.LayerNorm.bias",
        }
        parts = {
            "query": "attention.self.query",
            "key": "attention.self.key",
            "value": "attention.self.value",
            "attention_out": "attention.output.dense",
            "attention_norm": "attention.output.LayerNorm",
            "intermediate": "intermediate.dense",
            "output": "output.dense",
            "output_norm": "output.LayerNorm",
        }
        for index in range(self.config.layers):
            for ours, theirs in parts.items():
                for kind in ("weight", "bias"):
                    mapping[f"layers.{index}.{ours}.{kind}"] = f"encoder.layer.{index}.{theirs}.{kind}"
        self.load_state_dict({ours: saved[theirs] for ours, theirs in mapping.items()}, strict=True)
        return self
