"""The one place that makes the chat model, through LangChain's integrations.

`openai` covers every OpenAI-compatible server by base URL (vLLM, llama.cpp's server,
LM Studio, Ollama's /v1, OpenAI itself); `ollama` uses Ollama's own API. Nothing here is
called unless `ASSISTANT_LLM` is set: the default answerer needs no LLM.
"""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel

from assistant.config import Settings


class LLMConfigError(ValueError):
    """The LLM settings are incomplete; the message names the variable to set."""


def make_chat_model(settings: Settings) -> BaseChatModel:
    """The chat model for `settings` (raises `LLMConfigError` when `llm` is `none`)."""
    if settings.llm == "none":
        raise LLMConfigError("No LLM configured: set ASSISTANT_LLM=openai or ASSISTANT_LLM=ollama.")
    if not settings.llm_model:
        raise LLMConfigError(
            f"ASSISTANT_LLM={settings.llm} needs a model: set ASSISTANT_LLM_MODEL "
            "(the name the server knows it by)."
        )
    if settings.llm == "openai":
        from langchain_openai import ChatOpenAI

        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else "not-needed"
        return ChatOpenAI(
            model=settings.llm_model,
            base_url=settings.llm_base_url,
            api_key=key,
            timeout=settings.llm_timeout,
            temperature=settings.llm_temperature,
            max_tokens=settings.llm_max_tokens,
            max_retries=0,  # a failed call falls back to the extractive answer at once
        )
    from langchain_ollama import ChatOllama

    return ChatOllama(
        model=settings.llm_model,
        base_url=settings.llm_base_url,
        temperature=settings.llm_temperature,
        num_predict=settings.llm_max_tokens,
        client_kwargs={"timeout": settings.llm_timeout},
    )
