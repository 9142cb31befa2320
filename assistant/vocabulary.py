"""What the corpus calls things: its terms, its proper names and its abbreviations.

Answerability hinges on whether the question's named things (countries, agencies,
companies, minerals, years) appear in the evidence. Users name them differently from
the documents: "Ex-Im" for EXIM, "ITA" for the International Trade Administration,
"DRC" for the Democratic Republic of the Congo. These aliases are read from the
documents themselves (a long name followed by its abbreviation in brackets, and the
initials of capitalised names), so they hold for any corpus, not just this one.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from assistant.text import terms, words

# "Export-Import Bank of the United States (EXIM)", "Department of Defense (DoD)".
_LONG_THEN_SHORT = re.compile(
    r"((?:[A-Z][\w’'&.-]*\s+(?:(?:of|the|and|for|on|de|du)\s+)*){1,8})\(([A-Z][A-Za-z&.]{1,9})\)"
)
# "PRC (People's Republic of China)" is rarer but appears too.
_SHORT_THEN_LONG = re.compile(
    r"\b([A-Z][A-Za-z&.]{1,9})\s+\(((?:[A-Z][\w’'&.-]*\s*(?:(?:of|the|and|for)\s+)*){1,8})\)"
)
# A run of capitalised words, with the small words that join names ("Bank of the ...").
_NAME_RUN = re.compile(r"\b[A-Z][\w’'&-]*(?:\s+(?:(?:of|the|and|for)\s+)*[A-Z][\w’'&-]*)*")
_SMALL_WORDS = {"of", "the", "and", "for", "on", "de", "du", "a", "an", "in"}
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\n]\s*|[\"“(]\s*)$")


def acronym_key(token: str) -> str:
    """Abbreviations compared without case, dots or hyphens: "U.S." -> "us", "Ex-Im" -> "exim"."""
    return re.sub(r"[^a-z0-9]", "", token.lower())


def _initials(name: str, with_small_words: bool) -> str:
    parts = [p for p in re.split(r"[\s-]+", name) if p]
    if not with_small_words:
        parts = [p for p in parts if p.lower() not in _SMALL_WORDS]
    return "".join(p[0].lower() for p in parts if p[0].isalnum())


@dataclass
class Vocabulary:
    """Corpus-wide facts about words, built from every chunk's text."""

    document_frequency: Counter[str] = field(default_factory=Counter)  # stemmed term -> chunks
    chunk_count: int = 0
    proper_nouns: set[str] = field(default_factory=set)  # lower-cased words written capitalised
    # Abbreviation key -> the stemmed terms of each long form it stands for.
    aliases: dict[str, list[frozenset[str]]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def build(cls, texts: Iterable[str], term_lists: Iterable[list[str]] | None = None) -> Vocabulary:
        """Read every chunk once. `term_lists` (each text's `terms`) saves tokenising
        twice when the caller (the BM25 index) has them already."""
        vocabulary = cls()
        texts = list(texts)
        term_lists = list(term_lists) if term_lists is not None else [terms(text) for text in texts]
        capitalised: Counter[str] = Counter()
        lower: Counter[str] = Counter()
        names: set[str] = set()
        for text, text_terms in zip(texts, term_lists, strict=True):
            vocabulary.chunk_count += 1
            vocabulary.document_frequency.update(set(text_terms))
            vocabulary._read_abbreviations(text)
            for line in text.splitlines():
                _count_case(line, capitalised, lower)
            names.update(match.group(0) for match in _NAME_RUN.finditer(text))
        vocabulary.proper_nouns = {
            word
            for word, count in capitalised.items()
            if count >= max(2, 3 * lower.get(word, 0)) and len(word) > 1  # once may be a heading
        }
        vocabulary._read_initials(names)
        return vocabulary

    def _read_abbreviations(self, text: str) -> None:
        for long_form, short in _LONG_THEN_SHORT.findall(text):
            if _is_abbreviation(short):
                self._add_alias(short, _trim_name(long_form, short))
        for short, long_form in _SHORT_THEN_LONG.findall(text):
            # "PRC (People's Republic of China)", not "States (EXIM)".
            if _is_abbreviation(short) and len(long_form.split()) >= 2:
                self._add_alias(short, long_form)

    def _read_initials(self, names: set[str]) -> None:
        """Multi-word names whose initials make an abbreviation users may type: "ITA" for
        "International Trade Administration", "USTR" for the tail of "Office of the United
        States Trade Representative"."""
        for name in names:
            parts = [p for p in re.split(r"[\s-]+", name) if p]
            for start in range(len(parts)):
                tail = parts[start:]
                if tail[0].lower() in _SMALL_WORDS or sum(p.lower() not in _SMALL_WORDS for p in tail) < 2:
                    continue
                for with_small in (False, True):
                    key = _initials(" ".join(tail), with_small)
                    if 2 <= len(key) <= 6:
                        self._add_alias(key, " ".join(tail))

    def _add_alias(self, short: str, long_form: str) -> None:
        long_terms = frozenset(terms(long_form))
        key = acronym_key(short)
        if not long_terms or not key or long_terms in self.aliases[key]:
            return
        # One direction only: a question's long form ("Export-Import Bank") is matched by its
        # own words or initials (see question_analysis).
        self.aliases[key].append(long_terms)

    def idf(self, term: str) -> float:
        """Smoothed inverse document frequency; a term the corpus lacks weighs most."""
        frequency = self.document_frequency.get(term, 0)
        return math.log((self.chunk_count + 1) / (frequency + 0.5))

    @property
    def max_idf(self) -> float:
        """The idf of the rarest term the corpus has (one chunk), without scanning it."""
        return max(math.log((self.chunk_count + 1) / 1.5), 0.05)

    def expansions(self, token: str) -> list[frozenset[str]]:
        """The stemmed long forms an abbreviation (or short name) stands for."""
        return list(self.aliases.get(acronym_key(token), []))

    def is_proper_noun(self, word: str) -> bool:
        return word.lower() in self.proper_nouns


def _count_case(line: str, capitalised: Counter[str], lower: Counter[str]) -> None:
    """Count how a line writes each word. Title-case lines (headings, titles) say nothing
    about which words are names, and neither does the first word of a sentence."""
    found = list(re.finditer(r"[^\W\d_][\w’'-]*", line))
    content = [m.group(0) for m in found if m.group(0).lower() not in _SMALL_WORDS]
    if content and sum(word[0].isupper() for word in content) > 0.6 * len(content):
        return
    for match in found:
        word = match.group(0)
        key = word.lower().removesuffix("’s").removesuffix("'s")
        if not word[0].isupper():
            lower[key] += 1
        elif not _SENTENCE_START.search(line[max(0, match.start() - 3) : match.start()]):
            capitalised[key] += 1


def _is_abbreviation(token: str) -> bool:
    """ "EXIM", "DoD", "U.S.": two capitals or more."""
    return sum(c.isupper() for c in token) >= 2


def _trim_name(long_form: str, short: str) -> str:
    """The words of `long_form` that the abbreviation stands for (Schwartz & Hearst, 2003):
    match the abbreviation's letters from its end, right to left, its first letter at the
    start of a word; "Board of the Export-Import Bank ... (EXIM)" -> "Export-Import Bank ...".
    The whole run when the letters do not match."""
    letters = acronym_key(short)
    text = long_form.strip()
    position = len(text) - 1
    for index in range(len(letters) - 1, -1, -1):
        letter = letters[index]
        while position >= 0 and (
            text[position].lower() != letter or (index == 0 and position > 0 and text[position - 1].isalnum())
        ):
            position -= 1
        if position < 0:
            return long_form
        position -= 1
    return text[text.rfind(" ", 0, position + 1) + 1 :]


__all__ = ["Vocabulary", "acronym_key", "words"]
