"""The bundled model run without sentence-transformers gives sentence-transformers' vectors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sentence_transformers import SentenceTransformer

from assistant.config import DEFAULT_EMBEDDING_MODEL
from assistant.embeddings import SentenceTransformerEmbeddings, resolve_model_path
from assistant.mean_pooling import MeanPoolingEncoder, is_mean_pooling_model

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def test_the_mean_pooling_encoder_gives_sentence_transformers_vectors(tmp_path: Path) -> None:
    path = resolve_model_path(DEFAULT_EMBEDDING_MODEL)
    embeddings = SentenceTransformerEmbeddings(DEFAULT_EMBEDDING_MODEL, device="cpu")
    assert isinstance(embeddings.model, MeanPoolingEncoder)
    texts = [p.read_text(encoding="utf-8")[:900] for p in sorted(CORPUS.glob("*.md"))]
    # Short, padded, stripped, non-ASCII and truncated (over 256 tokens) texts, in one batch.
    texts += ["What did Malaysia ban?", "  tin  ", "Gécamines", "ringgit " * 400]
    ours = np.array(embeddings.embed_documents(texts))
    reference = SentenceTransformer(path, device="cpu").encode(
        texts, batch_size=8, normalize_embeddings=True, convert_to_numpy=True
    )
    assert ours.shape == reference.shape == (len(texts), 384)
    assert np.abs(ours - reference).max() < 1e-5
    assert embeddings.model.get_sentence_embedding_dimension() == 384

    # The same model without its fast tokenizer file is not the plain BERT this project
    # computes itself: it goes through transformers, with the same vectors.
    copy = tmp_path / "model"
    copy.mkdir()
    for item in Path(path).iterdir():
        if item.name != "tokenizer.json":
            (copy / item.name).symlink_to(item)
    through_transformers = MeanPoolingEncoder(str(copy), "cpu")
    assert through_transformers._tokenizer is None
    again = through_transformers.encode(texts, batch_size=32, normalize_embeddings=True)
    assert np.abs(again - reference).max() < 1e-5


def test_other_shapes_of_model_go_to_sentence_transformers(tmp_path: Path) -> None:
    path = Path(resolve_model_path(DEFAULT_EMBEDDING_MODEL))
    assert is_mean_pooling_model(str(path))
    # A model that pools the CLS token is not one this module runs.
    for name in ("modules.json", "sentence_bert_config.json"):
        (tmp_path / name).write_text((path / name).read_text())
    (tmp_path / "1_Pooling").mkdir()
    pooling = json.loads((path / "1_Pooling" / "config.json").read_text())
    (tmp_path / "1_Pooling" / "config.json").write_text(
        json.dumps({**pooling, "pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True})
    )
    assert not is_mean_pooling_model(str(tmp_path))
    assert not is_mean_pooling_model(str(tmp_path / "absent"))
