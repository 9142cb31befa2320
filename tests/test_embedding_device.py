"""The embedding device setting: `auto` picks CUDA only when torch sees a GPU, a device that
is not there is a clear error, and the real model loads where the setting says."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from assistant.config import DEFAULT_EMBEDDING_MODEL, Settings
from assistant.embeddings import (
    EmbeddingModelError,
    SentenceTransformerEmbeddings,
    make_embeddings,
    resolve_device,
)

HAS_CUDA = torch.cuda.is_available()


def test_auto_is_the_default_and_means_cuda_only_when_torch_sees_one() -> None:
    assert Settings().embedding_device == "auto"
    assert resolve_device("auto") == ("cuda" if HAS_CUDA else "cpu")
    assert resolve_device("cpu") == "cpu"


def test_auto_picks_cuda_when_torch_reports_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    # The decision alone: this machine has no GPU to report one.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"
    assert resolve_device("cuda") == "cuda"


@pytest.mark.skipif(HAS_CUDA, reason="this machine has a CUDA GPU")
def test_cuda_without_a_gpu_is_an_error_naming_the_fix() -> None:
    with pytest.raises(EmbeddingModelError, match="'cuda' but torch .* sees no CUDA GPU") as raised:
        resolve_device("cuda")
    assert "'auto' or 'cpu'" in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="this machine has an Apple GPU")
def test_mps_without_an_apple_gpu_is_an_error() -> None:
    with pytest.raises(EmbeddingModelError, match="'mps' but torch .* sees no Apple GPU"):
        resolve_device("mps")


def test_the_setting_comes_from_the_environment_and_refuses_unknown_devices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ASSISTANT_EMBEDDING_DEVICE", "cpu")
    assert Settings().embedding_device == "cpu"
    monkeypatch.setenv("ASSISTANT_EMBEDDING_DEVICE", "tpu")
    with pytest.raises(ValidationError, match="embedding_device"):
        Settings()


@pytest.mark.slow
def test_the_model_loads_on_the_resolved_device() -> None:
    embeddings = make_embeddings(Settings(embedding_device="auto"))
    assert embeddings.device == "auto"
    assert embeddings.model.device.type == resolve_device("auto")
    dimension = embeddings.model.get_sentence_embedding_dimension()
    assert len(embeddings.embed_query("rare earth export ban")) == dimension == 384


@pytest.mark.skipif(HAS_CUDA, reason="this machine has a CUDA GPU")
def test_embedding_on_a_missing_cuda_device_fails_with_the_message() -> None:
    embeddings = SentenceTransformerEmbeddings(DEFAULT_EMBEDDING_MODEL, device="cuda")
    with pytest.raises(EmbeddingModelError, match="sees no CUDA GPU"):
        embeddings.embed_documents(["Malaysia bans the export of unprocessed rare earths."])
