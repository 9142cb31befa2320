"""What a question asks about: its content terms, its named things and its focus.

Answerability and sentence choice both ask the same things of a question: which of its
words must the evidence contain (the named things: places, agencies, companies,
minerals, years), and what is it asking for (its type and the words right after the
question word: "how many *employees*", "what *royalty rate*"). A near miss reuses the
corpus's own words and changes exactly one of these, so they are checked one by one.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Container
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from assistant.question_parse import parse_question
from assistant.questions import QuestionType, question_type
from assistant.text import stem, stop_words, terms
from assistant.vocabulary import Vocabulary, acronym_key, is_abbreviation

_TOKEN = re.compile(r"[^\W_][\w.’'&-]*[^\W_]|[^\W_]")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\n]\s*|[\"“(]\s*|\s-\s*)$")
_YEAR = re.compile(r"^(19|20)\d\d$")
_WH = {
    "what",
    "which",
    "who",
    "whom",
    "whose",
    "when",
    "where",
    "why",
    "how",
    "is",
    "are",
    "does",
    "do",
    "did",
    "can",
    "could",
    "was",
    "were",
    "has",
    "have",
    "will",
    "would",
    "should",
}


# Words a name may abbreviate the usual way ("State Dept", "Malaysian Govt", "DFC Corp."):
# the corpus never defines them, as it defines "EXIM", so they are spelled out here.
_WORD_ABBREVIATIONS = {
    "dept": "department",
    "depts": "departments",
    "govt": "government",
    "gov't": "government",
    "intl": "international",
    "int'l": "international",
    "natl": "national",
    "nat'l": "national",
    "corp": "corporation",
    "assn": "association",
    "admin": "administration",
    "mgmt": "management",
    "univ": "university",
}


@dataclass(frozen=True)
class NamedThing:
    """A name in the question and the ways the corpus may write it."""

    surface: str
    stems: frozenset[str]
    alternatives: tuple[frozenset[str], ...] = ()

    def covered_by(self, text_terms: Container[str]) -> bool:
        """Whether `text_terms` (a set, or the corpus vocabulary itself) hold this name,
        written out or as one of its abbreviations."""
        if self.stems and all(t in text_terms for t in self.stems):
            return True
        return any(all(t in text_terms for t in alternative) for alternative in self.alternatives)


@dataclass
class QuestionAnalysis:
    """The parts of a question that evidence must match."""

    text: str
    kind: QuestionType
    terms: list[str]
    named: list[NamedThing] = field(default_factory=list)
    focus: list[str] = field(default_factory=list)  # stemmed words of what is asked for
    focus_phrase: str = ""  # the asked-for noun as written, with its modifiers: "minimum wage"


def analyse(question: str, vocabulary: Vocabulary, literal: str | None = None) -> QuestionAnalysis:
    """Analyse `question` (condensed). For a follow-up, `literal` is what the user typed:
    it decides the type, the focus and the named things to check, since the condensed
    form also carries names from the previous turn that the new question did not ask for."""
    literal = literal or question
    parsed = parse_question(literal)
    return QuestionAnalysis(
        text=question,
        kind=parsed.kind or question_type(literal),
        terms=list(dict.fromkeys(terms(question))),
        named=named_things(literal, vocabulary),
        focus=terms(" ".join(parsed.focus)),
        focus_phrase=" ".join(parsed.phrase),
    )


def named_things(question: str, vocabulary: Vocabulary, sentence_starts: bool = False) -> list[NamedThing]:
    """Capitalised names, abbreviations, years and the corpus's own proper nouns. A
    capitalised first word of a sentence counts only with `sentence_starts` (in an
    answer, "Neodymium (Nd), ..." starts with a name; in a question, "What" does not)."""
    ignored = stop_words()
    tokens = [(m.group(0), m.start()) for m in _TOKEN.finditer(question)]
    runs: list[list[str]] = []
    can_join = False  # whether the next title-case word continues the current name
    for token, start in tokens:
        bare = re.sub(r"(’s|'s)$", "", token).rstrip(".")
        starts_sentence = not sentence_starts and bool(
            _SENTENCE_START.search(question[max(0, start - 3) : start])
        )
        if not _is_named(bare, starts_sentence, vocabulary, ignored):
            can_join = False
            continue
        title_case = bare[0].isupper() and not bare.isupper() and not _YEAR.match(bare)
        if can_join and title_case:
            runs[-1].append(bare)
        else:
            runs.append([bare])
        can_join = title_case and bare == token  # "ITA's Malaysia" is two names
    return [_named_thing(run, vocabulary) for run in runs]


def with_long_forms(query: str, vocabulary: Vocabulary) -> str:
    """`query` with each abbreviation it names (`named_things`) followed by the long form
    the corpus writes most, as stemmed terms ("What's AFTA (area asean free trade)?"), for
    retrieval. The embedding model does not know a corpus's abbreviations: "What's AFTA,
    in a nutshell?" matched the sentence defining AFTA at 0.64 cosine, and at 0.87 so
    spelled out; the lexical index finds the passages that write only the long form."""
    query_terms = set(terms(query))
    expanded = query
    for thing in named_things(query, vocabulary):
        for word in thing.surface.split():
            forms = vocabulary.expansions(word) if is_abbreviation(word) else []
            if forms and not forms[0] <= query_terms:
                expanded = expanded.replace(word, f"{word} ({' '.join(sorted(forms[0]))})", 1)
    return expanded


def _is_named(token: str, starts_sentence: bool, vocabulary: Vocabulary, ignored: frozenset[str]) -> bool:
    lowered = token.lower()
    if _YEAR.match(token):
        return True
    if not token[0].isalpha() or lowered in ignored or lowered in _WH or acronym_key(token) in ignored:
        return False
    if is_abbreviation(token):
        return True
    if token[0].isupper() and not starts_sentence:
        return True
    return lowered in materials() or vocabulary.is_proper_noun(lowered)


def _named_thing(run: list[str], vocabulary: Vocabulary) -> NamedThing:
    surface = " ".join(run)
    stems = frozenset(terms(surface))
    alternatives: list[frozenset[str]] = []
    if len(run) == 1:
        key = acronym_key(run[0])
        alternatives.append(frozenset([stem(key)]))
        alternatives.extend(vocabulary.expansions(run[0]))
    else:
        # "Kuala Lumpur" is also written "KL", or run together in an address.
        initials = "".join(word[0].lower() for word in run)
        alternatives.extend(vocabulary.expansions(initials))
        alternatives.append(frozenset([stem(initials)]))
        alternatives.append(frozenset([stem("".join(acronym_key(word) for word in run))]))
    alternatives.extend(place_aliases().get(surface.lower(), ()))
    spelled = [_WORD_ABBREVIATIONS.get(word.lower().rstrip("."), word) for word in run]
    if spelled != run:  # "State Dept" is the State Department
        alternatives.append(frozenset(terms(" ".join(spelled))))
    return NamedThing(surface, stems, tuple(a for a in alternatives if a))


PLACE_ALIASES = Path(__file__).parent / "models" / "place_aliases.tsv"
MATERIALS = Path(__file__).parent / "models" / "materials.txt"


@lru_cache(maxsize=1)
def materials() -> frozenset[str]:
    """Minerals and metals a question names in lower case ("unprocessed *bauxite*"): named
    things like countries and companies, so an answer about another mineral does not
    cover them (`models/materials.txt`)."""
    lines = MATERIALS.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


@lru_cache(maxsize=1)
def place_aliases() -> dict[str, tuple[frozenset[str], ...]]:
    """A place or people a question may name for a country or its government ("KL",
    "Beijing", "Pentagon", "Malaysian"), lower-cased, -> the stemmed names documents use for it
    (`models/place_aliases.tsv`). Documents about trade write "China" where users say
    "Beijing"; without this, "Beijing" counted as a name the documents never mention."""
    names: dict[str, list[frozenset[str]]] = defaultdict(list)
    initials: dict[str, set[frozenset[str]]] = defaultdict(set)
    for line in PLACE_ALIASES.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        place, name = line.split("\t")
        meant = frozenset(terms(name))
        names[place.lower()].append(meant)
        words = place.split()
        if len(words) >= 2:
            initials["".join(word[0] for word in words).lower()].add(meant)
    for key, meant_set in initials.items():
        if len(meant_set) == 1 and key not in names:  # "KL"; not initials two places share
            names[key].extend(meant_set)
    return {place: tuple(meant) for place, meant in names.items()}
