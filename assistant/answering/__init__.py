"""Answerers behind one interface: `answer(question, standalone_question, passages) -> Answer`.

The extractive answerer is the offline default; an LLM answerer can replace it without
touching retrieval or the surfaces.
"""

from assistant.answering.base import Answerer, refusal

__all__ = ["Answerer", "refusal"]
