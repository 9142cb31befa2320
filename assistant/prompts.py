"""Prompt templates as files in `prompts/`, loaded at run time and versioned by hash.

Every answer and every evaluation report records the hashes of the prompts that produced
it, so a change of wording is visible in `assistant eval --compare`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

PROMPT_NAMES = ("system", "answer", "condense")


class PromptError(RuntimeError):
    """A prompt file is missing or unusable; the message names the file."""


@dataclass(frozen=True)
class Prompt:
    """A template and the short hash of its text."""

    name: str
    text: str

    @property
    def version(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:12]

    def format(self, **values: str) -> str:
        """Fill `{name}` fields; other braces in values are left alone."""
        text = self.text
        for key, value in values.items():
            text = text.replace("{" + key + "}", value)
        return text


def load_prompts(directory: Path) -> dict[str, Prompt]:
    """Every prompt the LLM path needs, from `directory`."""
    prompts = {}
    for name in PROMPT_NAMES:
        path = directory / f"{name}.md"
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise PromptError(
                f"Prompt file {path} cannot be read ({error.strerror or error}); "
                "set ASSISTANT_PROMPTS_DIR to the folder that holds system.md, answer.md and condense.md."
            ) from error
        prompts[name] = Prompt(name, text)
    return prompts


def versions(prompts: dict[str, Prompt]) -> dict[str, str]:
    """Name -> hash, as recorded in answers and reports."""
    return {name: prompt.version for name, prompt in prompts.items()}
