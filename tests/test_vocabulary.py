"""The corpus vocabulary and question analysis: abbreviations, names, idf, focus."""

from __future__ import annotations

from assistant.question_analysis import analyse, named_things
from assistant.text import terms
from assistant.vocabulary import Vocabulary

TEXTS = [
    "The Board of the Export-Import Bank of the United States (EXIM) approved a loan.\n"
    "Office of the United States Trade Representative\n",
    "The U.S. International Trade Administration helps exporters in Kuala Lumpur. "
    "Write to office.kualalumpur@trade.gov for help with Malaysia.",
    "Malaysia banned the export of unprocessed rare earth ores. Malaysia produces tin.",
    "Exports from Malaysia grew, a Record for the year.",
]


def vocabulary() -> Vocabulary:
    return Vocabulary.build(TEXTS)


def test_idf_weighs_rare_and_unseen_terms_most() -> None:
    vocab = vocabulary()
    common, rare, unseen = (vocab.idf(t) for t in terms("Malaysia loan zeppelin"))
    assert unseen > rare > common
    # max_idf is the idf of a term found in one chunk, computed without a scan.
    assert vocab.max_idf == vocab.idf(terms("loan")[0])


def test_abbreviations_are_read_from_the_documents() -> None:
    vocab = vocabulary()
    exim = vocab.expansions("Ex-Im")  # hyphens and case do not matter
    assert frozenset(terms("Export-Import Bank of the United States")) in exim
    # Initials of a capitalised name: "ITA", and the tail of a longer name: "USTR".
    assert frozenset(terms("International Trade Administration")) in vocab.expansions("ITA")
    assert frozenset(terms("United States Trade Representative")) in vocab.expansions("USTR")


def test_proper_nouns_ignore_title_case_lines_and_sentence_starts() -> None:
    vocab = vocabulary()
    assert vocab.is_proper_noun("malaysia")
    assert not vocab.is_proper_noun("office")  # only capitalised in a title-case line
    assert not vocab.is_proper_noun("write")  # only capitalised at a sentence start
    assert not vocab.is_proper_noun("record")  # capitalised once: a stray heading word


def test_named_things_are_covered_by_their_aliases() -> None:
    vocab = vocabulary()
    corpus = vocab.document_frequency
    found = {
        n.surface: n for n in named_things("Did Ex-Im or ITA help anyone in Kuala Lumpur in 2019?", vocab)
    }
    assert set(found) == {"Ex-Im", "ITA", "Kuala Lumpur", "2019"}
    assert found["Ex-Im"].covered_by(corpus)
    assert found["ITA"].covered_by(corpus)
    assert found["Kuala Lumpur"].covered_by(terms("office.kualalumpur@trade.gov") + ["kuala", "lumpur"])
    assert not found["2019"].covered_by(corpus)
    # A name the corpus never mentions is not covered.
    (chile,) = named_things("What does Chile export?", vocab)
    assert not chile.covered_by(corpus)


def test_a_place_named_for_its_country_or_government_is_covered_by_it() -> None:
    """Users say "KL" and "Beijing" where documents say "Malaysia" and "China": a
    literal check called those names the documents never mention (issue 8). A place is
    still not covered where the documents name neither it nor what it stands for."""
    corpus = Vocabulary.build([*TEXTS, "China controls the supply chains; the Department of Defense buys."])
    terms_of = corpus.document_frequency
    found = {n.surface: n for n in named_things("Did KL, Beijing or the Pentagon act? And Canberra?", corpus)}
    assert set(found) == {"KL", "Beijing", "Pentagon", "Canberra"}
    assert found["KL"].covered_by(terms_of)  # the initials of Kuala Lumpur: Malaysia
    assert found["Beijing"].covered_by(terms_of)
    assert found["Pentagon"].covered_by(terms_of)
    assert not found["Canberra"].covered_by(terms_of)  # Australia is not in these documents
    without_china = vocabulary().document_frequency
    assert not found["Beijing"].covered_by(without_china)
    # A people is named for its country: "Chinese" where documents say "China".
    (chinese,) = named_things("Which Chinese firms dominate refining?", corpus)
    assert chinese.covered_by(terms_of) and not chinese.covered_by(without_china)


def test_a_name_with_an_abbreviated_word_is_covered_by_the_name_written_out() -> None:
    """A user's "State Dept" is the documents' State Department (or Department of State):
    an independent question naming it got the lowest answerable probability of its set, as
    if the documents lacked the name."""
    corpus = Vocabulary.build(["The ministerial was hosted at the U.S. Department of State today."])
    (dept,) = named_things("Who attended the State Dept's ministerial?", corpus)
    assert dept.surface == "State Dept"
    assert dept.covered_by(corpus.document_frequency)
    assert not dept.covered_by(frozenset(terms("The State of Pahang hosts the plant.")))


def test_question_words_and_sentence_starts_are_not_names() -> None:
    vocab = vocabulary()
    assert [n.surface for n in named_things("What is the mine output? Which ores count?", vocab)] == []
    # A mineral is named in lower case too (models/materials.txt).
    assert [n.surface for n in named_things("What is the tin output?", vocab)] == ["tin"]
    # In an answer, a sentence may start with a name.
    answer = "Neodymium and Dysprosium are magnet metals."
    assert [n.surface for n in named_things(answer, vocab, sentence_starts=True)][:2] == [
        "Neodymium",
        "Dysprosium",
    ]


def test_focus_is_what_the_question_asks_for() -> None:
    vocab = vocabulary()
    assert analyse("How many employees does Lynas have?", vocab).focus == terms("employees")
    assert analyse("What royalty rate does Malaysia charge?", vocab).focus == terms("royalty rate")
    assert analyse("Why did Malaysia ban exports?", vocab).focus == []


def test_a_follow_up_is_analysed_by_what_the_user_typed() -> None:
    vocab = vocabulary()
    condensed = "When did it start? Did Malaysia ban rare earth exports?"
    analysis = analyse(condensed, vocab, literal="When did it start?")
    assert analysis.kind == "when"
    assert analysis.named == []  # names of the previous turn are not the new question's
    assert "malaysia" in analysis.terms  # but its terms still steer the evidence


def test_an_abbreviation_keeps_only_its_most_written_long_forms() -> None:
    from assistant.vocabulary import MAX_EXPANSIONS

    # A large corpus writes one abbreviation's long form many ways; each question naming
    # it checks every form kept, so only the most written ones are kept.
    texts = ["The Supply Chain Resiliency Initiative (SCRI) opened."] * 3 + [
        f"The Supply Chain Resiliency Initiative Variant{chr(65 + i)} (SCRI) opened." for i in range(20)
    ]
    forms = Vocabulary.build(texts).expansions("SCRI")
    assert len(forms) == MAX_EXPANSIONS
    assert forms[0] == frozenset(terms("Supply Chain Resiliency Initiative"))


def test_the_dense_query_spells_out_abbreviations_the_corpus_defines() -> None:
    from assistant.question_analysis import with_long_forms

    vocab = vocabulary()
    exim = " ".join(sorted(terms("Export-Import Bank of the United States")))
    assert with_long_forms("Did EXIM approve it?", vocab) == f"Did EXIM ({exim}) approve it?"
    # Already spelled out, unknown to the corpus, a stop word ("US" is "us", as in the
    # question analysis) or not an abbreviation: unchanged.
    spelled = "Did the Export-Import Bank of the United States (EXIM) approve it?"
    for question in (spelled, "Did the OECD approve it?", "Did U.S. exporters?", "Did Malaysia approve it?"):
        assert with_long_forms(question, vocab) == question
