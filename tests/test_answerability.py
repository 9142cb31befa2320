"""The answerability step on the real corpus: refusals that say what is missing, partial
answers, diagnostics, and `--calibrate` fitting and cross-validating both models."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from assistant.answering.answerability import Verdict, answerability_features
from assistant.answering.extractive import ExtractiveAnswerer
from assistant.evaluation import load_golden
from assistant.evaluation.fitting import calibrate, is_evidence_sentence
from assistant.linear import MODELS_DIR
from assistant.questions import QuestionType, type_match
from assistant.service import Assistant
from assistant.ui.chat import format_answer
from tests.conftest import ROOT


def test_a_question_about_a_place_the_documents_never_mention_is_refused_by_name(
    corpus_assistant: Assistant,
) -> None:
    answer = corpus_assistant.ask("Has Peru banned exports of unprocessed rare earth ores?")
    assert answer.refused and answer.citations == []
    assert answer.answer.startswith("The documents do not mention “Peru”")
    assert answer.diagnostics["verdict"] == "refuse"
    assert answer.diagnostics["missing_from_corpus"] == ["Peru"]
    assert answer.notes == []  # diagnostics never reach the user-facing notes
    # The chat shows the reason and lists the topics once.
    page = format_answer(answer.to_dict())
    assert "The documents do not mention “Peru”" in page
    assert "The closest topics they cover" not in page
    assert all(page.count(f"<li>{topic}</li>") == 1 for topic in answer.closest_topics)


def test_a_question_asking_for_what_no_document_names_is_refused(corpus_assistant: Assistant) -> None:
    """The thing asked for ("tourists", "road tax") is a word no document uses, though the
    rest of the question (Malaysia, a year, a tax) is all over the corpus: the question is
    refused, not answered with the nearest sentence about something else, and the refusal
    names it."""
    for question, asked_for in (
        ("How many tourists visit Malaysia every year?", "tourists"),
        ("How much is the annual road tax on a car in Malaysia?", "annual road tax"),
    ):
        answer = corpus_assistant.ask(question)
        assert answer.diagnostics["answerability_features"]["focus_unknown"] > 0, question
        assert answer.refused and answer.citations == [], question
        assert answer.answer.startswith(f"The documents do not mention “{asked_for}”"), answer.answer


def test_a_mineral_is_a_named_thing_even_in_lower_case(corpus_assistant: Assistant) -> None:
    """Minerals are named like countries (issue 8): one the documents never mention is
    named in the refusal, one they do mention is covered."""
    answer = corpus_assistant.ask("What does the MOU say about gallium and germanium?")
    assert answer.refused and answer.citations == []
    assert answer.diagnostics["missing_from_corpus"] == ["gallium", "germanium"]
    assert answer.answer.startswith("The documents do not mention “gallium” or “germanium”")
    covered = corpus_assistant.ask("Is Malaysia a big producer of tin?")
    assert not covered.refused and "tin" in covered.answer


def test_an_answer_explains_itself_in_diagnostics(corpus_assistant: Assistant) -> None:
    answer = corpus_assistant.ask("Since when has Malaysia banned the export of unprocessed rare earths?")
    assert not answer.refused and "January 2024" in answer.answer
    diagnostics = answer.diagnostics
    assert diagnostics["verdict"] == "answer"
    assert diagnostics["answerable_probability"] >= diagnostics["threshold"]
    assert set(diagnostics["answerability_contributions"]) == set(diagnostics["answerability_features"])
    first = diagnostics["sentences"][0]
    assert first["text"] in answer.answer and 0 < first["probability"] <= 1
    assert "semantic" in first["contributions"]


def test_the_asked_for_attribute_must_be_in_one_chosen_sentence(corpus_assistant: Assistant) -> None:
    """A near miss reuses the corpus's words and changes what is asked for: the focus
    ("export tax rate on tin": the documents name tin, taxes and rates, never together) is
    missing from every chosen sentence, while the real question's focus ("average tariff
    on industrial goods") is in the sentence that answers it."""
    step = corpus_assistant.make_answerability_step()

    def features(question: str) -> dict[str, float]:
        return step.assess(
            question, question, corpus_assistant.retriever.retrieve(question)
        ).decision.features

    near_miss = features("What is the export tax rate on tin in Malaysia?")
    answerable = features("What is the average tariff on industrial goods in Malaysia?")
    assert near_miss["focus_missing_best"] >= 0.5
    assert answerable["focus_missing_best"] == 0.0


def test_asking_for_an_amount_or_a_name_needs_more_evidence(corpus_assistant: Assistant) -> None:
    """Near misses mostly ask for a value the documents never state (a head count, a rate,
    the company that did something), so the fitted model starts such questions lower."""
    step = corpus_assistant.make_answerability_step()
    for question, asks in (
        ("How many people does Lynas employ in Malaysia?", 1.0),
        ("Which company is building a magnet plant with Lynas?", 1.0),
        ("What does Lynas do in Malaysia?", 0.0),
        ("Why does EXIM support critical minerals projects?", 0.0),
    ):
        decision = step.assess(question, question, corpus_assistant.retriever.retrieve(question)).decision
        assert decision.features["asks_amount_or_name"] == asks, question
        if asks:
            assert decision.contributions["asks_amount_or_name"] < 0, question


def test_a_count_is_met_by_a_sentence_that_enumerates(corpus_assistant: Assistant) -> None:
    """A "how many goals" question is answered by the sentence that lists them, with no
    number in it: the question's kind counts as met, so the model does not hold it against the answer."""
    step = corpus_assistant.make_answerability_step()
    question = "How many goals was the financing tool approved by the EXIM board designed to serve?"
    assessment = step.assess(question, question, corpus_assistant.retriever.retrieve(question))
    evidence, chosen = assessment.evidence, assessment.chosen
    assert evidence.analysis.kind is QuestionType.QUANTITY
    assert not any(type_match(QuestionType.QUANTITY, c.context) for c in chosen)
    assert any(c.features["enumerates"] for c in chosen)
    assert answerability_features(evidence, chosen)["type_unmet"] == 0.0
    # Asked without "how many", an amount is wanted, and these sentences give none.
    amount = replace(evidence, question="What amount was the financing tool designed to serve?")
    assert answerability_features(amount, chosen)["type_unmet"] == 1.0


def test_today_in_a_dated_press_release_answers_when(corpus_assistant: Assistant) -> None:
    """The DFC release (dated 2026-02-04) says the ministerial took place "today": the
    answer's note gives the day, so the question's kind is met."""
    step = corpus_assistant.make_answerability_step()
    question = "What date was the State Department's critical minerals ministerial?"
    assessment = step.assess(question, question, corpus_assistant.retriever.retrieve(question))
    assert assessment.evidence.analysis.kind is QuestionType.WHEN
    assert not any(type_match(QuestionType.WHEN, c.context) for c in assessment.chosen)
    assert assessment.decision.features["type_unmet"] == 0.0


def test_a_field_the_page_leaves_blank_is_unmet_and_the_refusal_says_so(corpus_assistant: Assistant) -> None:
    """The import tariffs page has "Last published date:" with nothing after it: the dates
    of its other sentences do not answer "when was it last updated?"."""
    step = corpus_assistant.make_answerability_step()
    question = "When was ITA's Malaysia import tariffs page last updated?"
    assessment = step.assess(question, question, corpus_assistant.retriever.retrieve(question))
    decision = assessment.decision
    assert decision.blank_field == (
        "Last published date",
        "Malaysia - Country Commercial Guide: Import Tariffs",
    )
    assert decision.features["type_unmet"] == 1.0
    step.model = replace(step.model, threshold=1.0)  # refused, whatever the fitted threshold
    refused = ExtractiveAnswerer().answer(step.assess(question, question, assessment.passages))
    assert refused.refused and refused.answer.startswith(
        "“Malaysia - Country Commercial Guide: Import Tariffs” leaves its “Last published date” blank"
    )
    # Answered all the same (refusal off), the answer says the field is blank.
    step.model = replace(step.model, threshold=0.0)
    answered = ExtractiveAnswerer().answer(step.assess(question, question, assessment.passages))
    assert not answered.refused
    assert (
        "“Malaysia - Country Commercial Guide: Import Tariffs” leaves its “Last published date” blank."
        in (answered.notes)
    )
    # A chapter that fills the field in is not affected.
    filled = "When was ITA's Malaysia trade financing chapter last updated?"
    decision = step.assess(filled, filled, corpus_assistant.retriever.retrieve(filled)).decision
    assert decision.blank_field is None and decision.features["type_unmet"] == 0.0


def test_a_heading_never_quoted_does_not_meet_the_kind(corpus_assistant: Assistant) -> None:
    """A byline heading with "2023" in it is judged (a heading that matches best says the
    documents name the topic) but never quoted: it does not give the date asked for."""
    step = corpus_assistant.make_answerability_step()
    question = "What date did EXIM's board sign off on the Supply Chain Resiliency Initiative?"
    evidence = step.gather(question, question, corpus_assistant.retriever.retrieve(question))
    heading = next(
        c
        for c in evidence.candidates
        if c.features["is_heading"]
        and not c.features["field_asked"]
        and type_match(QuestionType.WHEN, c.context)
    )
    assert answerability_features(evidence, [heading])["type_unmet"] == 1.0
    # The same words as a sentence an answer quotes would meet it.
    quoted = replace(heading, features={**heading.features, "is_heading": 0.0})
    assert answerability_features(evidence, [quoted])["type_unmet"] == 0.0


def test_a_name_typed_without_its_accent_is_the_documents_name(corpus_assistant: Assistant) -> None:
    """The DFC release writes "Gécamines"; a user types "Gecamines". Before accents were
    folded, the refusal said the documents do not mention it."""
    question = "What copper did DFC help Gecamines ship to the United States?"
    passages = corpus_assistant.retriever.retrieve(question)
    assert "Gécamines" in passages[0].text
    decision = corpus_assistant.make_answerability_step().assess(question, question, passages).decision
    assert decision.missing_from_corpus == [] and decision.missing_from_answer == []
    answer = corpus_assistant.ask(question)
    assert not answer.refused and "Gécamines" in answer.answer


def test_a_partly_covered_question_is_answered_in_part(corpus_assistant: Assistant) -> None:
    step = corpus_assistant.make_answerability_step()
    # With refusal off, the verdict turns on the named things alone.
    step.model = replace(step.model, threshold=0.0)
    question = "Did Malaysia and Peru ban rare earth exports?"
    assessment = step.assess(question, question, corpus_assistant.retriever.retrieve(question))
    decision = assessment.decision
    assert decision.verdict is Verdict.PARTIAL and decision.missing_from_corpus == ["Peru"]
    answer = ExtractiveAnswerer().answer(assessment)
    assert answer.partial and not answer.refused and answer.citations
    assert answer.answer.endswith(
        "The documents do not say anything about “Peru” in this context; the answer covers the rest."
    )


def test_evidence_sentences_are_found_by_overlap() -> None:
    quote = "Malaysia banned the export of unprocessed rare earth ores"
    assert is_evidence_sentence(
        "Since 2024 Malaysia banned the export of unprocessed rare earth ores.", [quote]
    )
    assert is_evidence_sentence("Malaysia banned the export", [quote + " and concentrates."])
    assert not is_evidence_sentence("Malaysia produces tin and bauxite.", [quote])


def test_calibrate_fits_both_models_with_cross_validation(
    corpus_assistant: Assistant, tmp_path: Path
) -> None:
    shipped = {path.name: path.read_text() for path in MODELS_DIR.glob("*.json")}
    golden = load_golden(ROOT / "evals" / "golden.jsonl")[:24]
    independent = load_golden(ROOT / "evals" / "user-questions-train.jsonl")[:16]
    sets = {"golden[:24]": golden, "user-questions-train[:16]": independent}
    summary = calibrate(corpus_assistant, sets, out_dir=tmp_path)
    counts = summary["questions"]
    assert counts["answerable"] + counts["out_of_scope"] == 40 and counts["generated_near_misses"] > 0
    for name in ("answers.evidence_in_answer", "refusals.recall", "refusals.false_refusal_rate"):
        assert 0 <= summary[name] <= 1, name
    # Each set's own numbers, on its own questions: together they make the overall ones.
    by_set = summary["by_set"]
    assert set(by_set) == set(sets)
    for name, items in sets.items():
        own = by_set[name]["questions"]
        assert own["answerable"] + own["out_of_scope"] == len(items)
        assert own["answerable"] == sum(item.answerable for item in items)
    answerable = {name: by_set[name]["questions"]["answerable"] for name in sets}
    weighted = sum(by_set[name]["refusals.false_refusal_rate"] * n for name, n in answerable.items())
    assert abs(weighted / sum(answerable.values()) - summary["refusals.false_refusal_rate"]) < 0.002
    for name in ("sentence_scorer", "answerability"):
        written = json.loads((tmp_path / f"{name}.json").read_text())
        assert written["fitted"]["cross_validated"] == summary
        assert written["fitted"]["sets"] == list(sets)
    assert json.loads((tmp_path / "answerability.json").read_text())["threshold"] == summary["threshold"]
    # Fitting into another folder leaves the shipped models alone.
    assert {path.name: path.read_text() for path in MODELS_DIR.glob("*.json")} == shipped
