"""An embedder that loads nothing, for the fast test lane (`pytest -m "not slow"`).

Each text is its stemmed content words hashed into 384 signed buckets, normalised: texts
sharing words are near, others far. That is enough to test the logic around embeddings
(ingest, retrieval's fusion and filters, deletes, answering's steps) in milliseconds; the
real model is tested everywhere else, and `make test` runs both.
"""

from __future__ import annotations

import hashlib

import numpy as np

from assistant.text import terms

DIMENSION = 384


class HashingEmbedder:
    """`assistant.embeddings.Embedder` without a model."""

    model_name = "hashing-test-embedder"
    model_loading = False  # there is no model to load

    def __init__(self) -> None:
        self.texts_embedded = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.texts_embedded += len(texts)
        return [self._vector(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)

    def embed_sentences(self, sentences: list[str]) -> list[list[float]]:
        return [self._vector(text) for text in sentences]

    def embed_for_storage(self, texts: list[str]) -> np.ndarray:
        return np.array([self._vector(text) for text in texts], dtype=np.float32).reshape(
            len(texts), DIMENSION
        )

    @staticmethod
    def _vector(text: str) -> list[float]:
        vector = np.zeros(DIMENSION)
        for term in terms(text) or [text.strip().lower() or "empty"]:
            digest = hashlib.md5(term.encode("utf-8"), usedforsecurity=False).digest()
            bucket = int.from_bytes(digest[:4], "little") % DIMENSION
            vector[bucket] += 1.0 if digest[4] % 2 else -1.0
        norm = np.linalg.norm(vector)
        return (vector / norm if norm else vector).tolist()
