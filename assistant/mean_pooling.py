"""Sentence embeddings of mean-pooling models, without sentence-transformers.

all-MiniLM-L6-v2, the bundled model, is three sentence-transformers modules: the
transformer, mean pooling over the tokens, L2 normalisation. sentence-transformers
imports scikit-learn and its training code besides, and transformers its modelling
machinery: every process that answers or ingests loads the model, and doing so took
10.5 s and 534 MB in a fresh process here through sentence-transformers, 8.9 s and
455 MB through transformers, 2.9 s and 428 MB as a plain-torch BERT (`assistant.bert`)
with the `tokenizers` library. A model saved in exactly that shape is run here with the
same tokenizer settings, so its vectors equal sentence-transformers' (checked by
`tests/test_embeddings_fast.py`): a BERT in plain torch, another transformer through
transformers; any other model goes to sentence-transformers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from assistant.bert import BertEncoder, read_config

_TRANSFORMER = "sentence_transformers.models.Transformer"
_POOLING = "sentence_transformers.models.Pooling"
_NORMALIZE = "sentence_transformers.models.Normalize"


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _fast_tokenizer(path: Path, max_length: int):  # noqa: ANN202  (a tokenizers.Tokenizer)
    """The saved fast tokenizer, truncating and padding as transformers' call does."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]") or 0, pad_token="[PAD]")
    return tokenizer


def is_mean_pooling_model(path: str) -> bool:
    """Whether the model saved at `path` is transformer -> mean pooling (-> normalise),
    with no option this module does not implement."""
    directory = Path(path)
    try:
        modules = _read_json(directory / "modules.json")
        types = [module["type"] for module in modules]
        if types not in ([_TRANSFORMER, _POOLING], [_TRANSFORMER, _POOLING, _NORMALIZE]):
            return False
        if modules[0]["path"] not in ("", "."):
            return False
        pooling = _read_json(directory / modules[1]["path"] / "config.json")
        settings = _read_json(directory / "sentence_bert_config.json")
    except (OSError, ValueError, KeyError, TypeError):
        return False
    modes = {key for key, value in pooling.items() if key.startswith("pooling_mode") and value}
    return (
        modes == {"pooling_mode_mean_tokens"}
        and not settings.get("do_lower_case", False)
        and isinstance(settings.get("max_seq_length"), int)
    )


class MeanPoolingEncoder:
    """The part of `SentenceTransformer` this project calls: `encode` and the dimension."""

    def __init__(self, path: str, device: str) -> None:
        import torch  # noqa: F401  (imported first for a clear error)

        directory = Path(path)
        modules = _read_json(directory / "modules.json")
        self.normalise = modules[-1]["type"] == _NORMALIZE
        self.max_seq_length = int(_read_json(directory / "sentence_bert_config.json")["max_seq_length"])
        config = read_config(directory)
        if config is not None:  # a BERT: computed without importing transformers
            self._tokenizer = _fast_tokenizer(directory / "tokenizer.json", self.max_seq_length)
            self.model = BertEncoder(config).load(directory / "model.safetensors").to(device).eval()
            self.dimension = config.hidden_size
        else:
            from transformers import AutoModel, AutoTokenizer

            self._tokenizer = None
            self.tokenizer = AutoTokenizer.from_pretrained(path)
            self.model = AutoModel.from_pretrained(path).to(device).eval()
            self.dimension = int(self.model.config.hidden_size)

    @property
    def device(self):  # noqa: ANN201  (a torch.device, as SentenceTransformer.device)
        return next(self.model.parameters()).device

    def get_sentence_embedding_dimension(self) -> int:
        return self.dimension

    def _tokens(self, texts: list[str]) -> dict[str, Any]:
        """Token ids and attention mask of `texts`, padded to the longest, on the device."""
        import torch

        if self._tokenizer is None:
            return dict(
                self.tokenizer(
                    texts,
                    padding=True,
                    truncation="longest_first",
                    max_length=self.max_seq_length,
                    return_tensors="pt",
                ).to(self.device)
            )
        encodings = self._tokenizer.encode_batch(texts)
        return {
            "input_ids": torch.tensor([e.ids for e in encodings], device=self.device),
            "attention_mask": torch.tensor([e.attention_mask for e in encodings], device=self.device),
        }

    def _hidden(self, tokens: dict[str, Any]):  # noqa: ANN202  (a torch.Tensor)
        if self._tokenizer is None:
            return self.model(**tokens).last_hidden_state
        return self.model(tokens["input_ids"], tokens["attention_mask"])

    def encode(
        self,
        sentences: list[str],
        batch_size: int = 32,
        normalize_embeddings: bool = False,
        **_ignored: Any,
    ) -> np.ndarray:
        """Vectors for `sentences`, in order. Batches hold texts of similar length (as
        sentence-transformers does), so little of each batch is padding."""
        import torch

        texts = [str(text).strip() for text in sentences]
        order = np.argsort([-len(text) for text in texts], kind="stable")
        vectors: list[np.ndarray] = [np.empty(0)] * len(texts)
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                batch_index = order[start : start + batch_size]
                tokens = self._tokens([texts[i] for i in batch_index])
                hidden = self._hidden(tokens)
                mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                if self.normalise or normalize_embeddings:
                    pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                for i, vector in zip(batch_index, pooled.float().cpu().numpy(), strict=True):
                    vectors[int(i)] = vector
        return np.stack(vectors) if vectors else np.empty((0, self.get_sentence_embedding_dimension()))
