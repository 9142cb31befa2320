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
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from assistant.text import fold, terms, words

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
MAX_EXPANSIONS = 8  # long forms kept per abbreviation (see Vocabulary.expansions)
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
    """Corpus-wide facts about words, kept as counts over every chunk's text.

    Every decision (which words are proper nouns, what an abbreviation stands for, a
    term's idf) is derived from counts that each chunk adds to and takes back, so a
    change to a large index reads only the chunks that changed: `added` and `removed`
    give the vocabulary of the corpus with or without them, equal to one built again.
    """

    # Counters when built, plain dicts when loaded (copying 30k-1M entries into Counters
    # cost 0.75 s of a 300k replica's start); a change copies what it touches either way.
    document_frequency: Mapping[str, int] = field(default_factory=Counter)  # stemmed term -> chunks
    chunk_count: int = 0
    # Lower-cased word -> times written capitalised (not at a sentence start, not in a
    # title-case line), and written in lower case.
    capitalised: Mapping[str, int] = field(default_factory=Counter)
    lowercase: Mapping[str, int] = field(default_factory=Counter)
    # Abbreviation key -> each long form it stands for (its stemmed terms, sorted and
    # joined by spaces: cheap to save) -> how many chunks say so.
    alias_counts: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    # False for the `for_questions()` view, which is not saved.
    complete: bool = True

    @classmethod
    def build(cls, texts: Iterable[str], term_lists: Iterable[list[str]] | None = None) -> Vocabulary:
        """Read every chunk once. `term_lists` (each text's `terms`) saves tokenising
        twice when the caller (the BM25 index) has them already."""
        return cls().added(texts, term_lists)

    def added(self, texts: Iterable[str], term_lists: Iterable[list[str]] | None = None) -> Vocabulary:
        """This vocabulary with the chunks of `texts` added (self is left as it was, so a
        search running meanwhile keeps a consistent view)."""
        return self._changed(texts, term_lists, +1)

    def removed(self, texts: Iterable[str], term_lists: Iterable[list[str]] | None = None) -> Vocabulary:
        """This vocabulary without the chunks of `texts`, which must be the very texts
        (and terms) once added."""
        return self._changed(texts, term_lists, -1)

    def for_questions(self) -> Vocabulary:
        """This vocabulary with each abbreviation's long forms cut to the ones `expansions`
        returns: all a question needs. A large corpus writes an abbreviation's long form
        many ways, mostly once each: at 300k (synthetic) chunks the full counts held
        127 MB of every replica, this view 59 MB. A change to this view stays a view:
        its counts are exact, but a long form it had cut may have become one of the most
        written; the lexical index reads the full counts back from its snapshot, changes
        them, and cuts them again."""
        if not self.complete:
            return self
        trimmed = {
            # Most abbreviations have few forms: those are shared, not sorted and copied.
            key: forms if len(forms) <= MAX_EXPANSIONS else dict(_most_written(forms))
            for key, forms in self.alias_counts.items()
        }
        return replace(self, alias_counts=trimmed, complete=False)

    def _changed(self, texts: Iterable[str], term_lists: Iterable[list[str]] | None, sign: int) -> Vocabulary:
        texts = list(texts)
        if not texts:
            return self
        term_lists = list(term_lists) if term_lists is not None else [terms(text) for text in texts]
        frequency: Counter[str] = Counter()
        capitalised: Counter[str] = Counter()
        lowercase: Counter[str] = Counter()
        aliases: Counter[tuple[str, str]] = Counter()
        for text, text_terms in zip(texts, term_lists, strict=True):
            frequency.update(set(text_terms))
            for line in text.splitlines():
                _count_case(line, capitalised, lowercase)
            aliases.update(_aliases_of(text))
        chunk_count = self.chunk_count + sign * len(texts)
        if chunk_count < 0:
            raise ValueError(f"cannot remove {len(texts)} chunks from a vocabulary of {self.chunk_count}")
        alias_counts = dict(self.alias_counts)  # copied on write: only the keys touched
        for (key, long_form), count in aliases.items():
            forms = alias_counts[key] = Counter(alias_counts.get(key, ()))
            if self.complete or long_form in forms or sign > 0:
                _add(forms, long_form, sign * count)
            # else: a long form the question view had cut; nothing of it to take back
            if not forms:
                del alias_counts[key]
        return Vocabulary(
            document_frequency=_plus(self.document_frequency, frequency, sign),
            chunk_count=chunk_count,
            capitalised=_plus(self.capitalised, capitalised, sign),
            lowercase=_plus(self.lowercase, lowercase, sign),
            alias_counts=alias_counts,
            complete=self.complete,
        )

    def idf(self, term: str) -> float:
        """Smoothed inverse document frequency; a term the corpus lacks weighs most."""
        frequency = self.document_frequency.get(term, 0)
        return math.log((self.chunk_count + 1) / (frequency + 0.5))

    @property
    def max_idf(self) -> float:
        """The idf of the rarest term the corpus has (one chunk), without scanning it."""
        return max(math.log((self.chunk_count + 1) / 1.5), 0.05)

    def expansions(self, token: str) -> list[frozenset[str]]:
        """The stemmed long forms an abbreviation (or short name) stands for: the
        `MAX_EXPANSIONS` most often written, most often first (ties by their terms).

        A large corpus writes one abbreviation's long form many ways; every question
        naming it checks each form against each candidate sentence, so at 300k chunks
        thousands of rare variants took 60% of a question's time. The rare ones add
        nothing the common ones do not cover (the 13-document corpus has at most 5).
        """
        forms = self.alias_counts.get(acronym_key(token))
        if not forms:
            return []
        return [frozenset(form.split()) for form, _ in _most_written(forms)]

    @property
    def aliases(self) -> dict[str, list[frozenset[str]]]:
        """Every abbreviation key with its `expansions`."""
        return {key: self.expansions(key) for key in self.alias_counts}

    def is_proper_noun(self, word: str) -> bool:
        """Whether the corpus writes `word` capitalised mid-sentence, at least twice (once
        may be a heading) and three times as often as in lower case."""
        key = fold(word.lower())
        count = self.capitalised.get(key, 0)
        return len(key) > 1 and count >= max(2, 3 * self.lowercase.get(key, 0))

    @property
    def proper_nouns(self) -> set[str]:
        """Every word `is_proper_noun` accepts (lower-cased)."""
        return {word for word in self.capitalised if self.is_proper_noun(word)}


def _most_written(forms: Mapping[str, int]) -> list[tuple[str, int]]:
    """The `MAX_EXPANSIONS` long forms written most often, most often first (ties by
    their terms)."""
    return sorted(forms.items(), key=lambda item: (-item[1], item[0]))[:MAX_EXPANSIONS]


def _plus(counts: Mapping[str, int], change: Counter[str], sign: int) -> Counter[str]:
    """`counts` + `sign` x `change` as a new Counter, without the words down to zero."""
    result = Counter(counts)
    if sign > 0:
        result.update(change)  # no count reaches zero, and Counter.update runs in C
        return result
    for key, count in change.items():
        _add(result, key, -count)
    return result


def _add(counts: Counter[Any], key: Any, count: int) -> None:
    total = counts.get(key, 0) + count
    if total > 0:
        counts[key] = total
    elif total == 0:
        counts.pop(key, None)
    else:
        raise ValueError(f"cannot remove {key!r} more often than it was added")


def _aliases_of(text: str) -> set[tuple[str, str]]:
    """The (abbreviation key, long form's terms) pairs one chunk gives: long forms with
    their abbreviation in brackets, and the initials of its capitalised names."""
    found: set[tuple[str, str]] = set()
    for long_form, short in _LONG_THEN_SHORT.findall(text):
        if is_abbreviation(short):
            found.update(_alias(short, _trim_name(long_form, short)))
    for short, long_form in _SHORT_THEN_LONG.findall(text):
        # "PRC (People's Republic of China)", not "States (EXIM)".
        if is_abbreviation(short) and len(long_form.split()) >= 2:
            found.update(_alias(short, long_form))
    for match in _NAME_RUN.finditer(text):
        found.update(_initials_of(match.group(0)))
    return found


@lru_cache(maxsize=65_536)
def _initials_of(name: str) -> tuple[tuple[str, str], ...]:
    """Aliases from a multi-word name's initials, which users may type: "ITA" for
    "International Trade Administration", "USTR" for the tail of "Office of the United
    States Trade Representative". Cached: a corpus repeats its names."""
    found: list[tuple[str, str]] = []
    parts = [p for p in re.split(r"[\s-]+", name) if p]
    for start in range(len(parts)):
        tail = parts[start:]
        if tail[0].lower() in _SMALL_WORDS or sum(p.lower() not in _SMALL_WORDS for p in tail) < 2:
            continue
        for with_small in (False, True):
            key = _initials(" ".join(tail), with_small)
            if 2 <= len(key) <= 6:
                found.extend(_alias(key, " ".join(tail)))
    return tuple(found)


def _alias(short: str, long_form: str) -> list[tuple[str, str]]:
    """The pair (key, the long form's distinct terms sorted and joined), if both sides say
    something. One direction only: a question's long form ("Export-Import Bank") is
    matched by its own words or initials (see question_analysis)."""
    long_terms = " ".join(sorted(set(terms(long_form))))  # terms never contain spaces
    key = acronym_key(short)
    return [(key, long_terms)] if long_terms and key else []


def _count_case(line: str, capitalised: Counter[str], lower: Counter[str]) -> None:
    """Count how a line writes each word. Title-case lines (headings, titles) say nothing
    about which words are names, and neither does the first word of a sentence."""
    found = list(re.finditer(r"[^\W\d_][\w’'-]*", line))
    content = [m.group(0) for m in found if m.group(0).lower() not in _SMALL_WORDS]
    if content and sum(word[0].isupper() for word in content) > 0.6 * len(content):
        return
    for match in found:
        word = match.group(0)
        key = fold(word.lower()).removesuffix("’s").removesuffix("'s")
        if not word[0].isupper():
            lower[key] += 1
        elif not _SENTENCE_START.search(line[max(0, match.start() - 3) : match.start()]):
            capitalised[key] += 1


def is_abbreviation(token: str) -> bool:
    """ "EXIM", "DoD", "Ex-Im", "U.S.": two capital letters or more."""
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


__all__ = ["Vocabulary", "acronym_key", "is_abbreviation", "words"]
