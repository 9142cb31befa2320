"""Answerers behind one interface: `answer(assessment) -> Answer`, where the assessment
(`assistant.answering.answerability`) holds the passages, the chosen sentences and the verdict.

The extractive answerer is the offline default; an LLM answerer can replace it without
touching retrieval, answerability or the surfaces.
"""

from assistant.answering.base import Answerer, refusal

__all__ = ["Answerer", "refusal"]
