"""Sentence vectors made at ingest and stored with their chunk.

The answerer weighs every sentence of the retrieved passages by its similarity to the
question, and embedding those sentences was most of a question's time whenever its
passages were new to the cache: at 300k chunks about 220 ms of a 280 ms question, on
this corpus the first asks. Ingest now embeds each chunk's sentences once, beside the
chunk itself (about 0.85 of the chunk's own embedding time, measured on this corpus), and
stores them in the chunk's metadata; a question reads them back with its passages.

They are stored as float16 in base64 (1 kB a sentence of 384 dimensions): the answer's
features are similarities rounded far coarser than float16's error. A chunk stored without them (an
index made before, or with `ASSISTANT_SENTENCE_VECTORS=false`) is embedded at question
time as before.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import numpy as np
from langchain_core.documents import Document

from assistant.types import Passage

SENTENCE_VECTORS_KEY = "sentence_vectors"


def encode(vectors: np.ndarray) -> str:
    """Vectors (one row per sentence) as the string stored in metadata."""
    return base64.b64encode(np.asarray(vectors, dtype="<f2").tobytes()).decode("ascii")


def decode(stored: str, sentences: int, dimension: int) -> np.ndarray | None:
    """The stored vectors as float32 rows, one per sentence; None when they do not fit
    the chunk's sentences or the model's dimension (stored by another version or model,
    or damaged)."""
    try:
        flat = np.frombuffer(base64.b64decode(stored, validate=True), dtype="<f2")
    except ValueError:
        return None
    if sentences <= 0 or flat.size != sentences * dimension:
        return None
    return flat.reshape(sentences, dimension).astype(np.float32)


def with_sentence_vectors(
    texts: list[str], metadatas: list[dict], embed: Callable[[list[str]], np.ndarray]
) -> list[dict]:
    """Copies of `metadatas` with each chunk's sentence vectors, all embedded in one call
    (the embedder batches them by length)."""
    per_chunk = [
        Passage.from_chunk(Document(page_content=text, metadata=metadata)).sentence_texts()
        for text, metadata in zip(texts, metadatas, strict=True)
    ]
    flat = [sentence for sentences in per_chunk for sentence in sentences]
    vectors = embed(flat)  # an embedder returns no rows for no texts
    result, start = [], 0
    for metadata, sentences in zip(metadatas, per_chunk, strict=True):
        stop = start + len(sentences)
        stored = {SENTENCE_VECTORS_KEY: encode(vectors[start:stop])} if sentences else {}
        result.append({**metadata, **stored})
        start = stop
    return result
