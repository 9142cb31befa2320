"""Hybrid retrieval over the real corpus index: evidence ranks, titles, filters, duplicates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.evaluation import normalise
from assistant.retrieval import Filters
from assistant.service import Assistant

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
GOLDEN = {
    item["id"]: item
    for item in (
        json.loads(line)
        for line in (ROOT / "evals" / "golden.jsonl").read_text().splitlines()
        if line.strip()
    )
}


@pytest.mark.parametrize("item_id", ["q001", "q019", "q021", "q027", "q039", "q047"])
def test_golden_evidence_is_in_the_top_5(corpus_assistant: Assistant, item_id: str) -> None:
    item = GOLDEN[item_id]
    passages = corpus_assistant.retriever.retrieve(item["question"], k=5)
    assert len(passages) == 5
    for quote in item["evidence"]:
        assert any(normalise(quote) in normalise(p.text) for p in passages), (
            item["question"],
            quote,
        )
    expected = {str((ROOT / source).resolve()) for source in item["sources"]}
    assert expected & {p.path for p in passages}


def test_passages_are_ranked_and_well_formed(corpus_assistant: Assistant) -> None:
    passages = corpus_assistant.retriever.retrieve("rare earth export ban", k=8)
    assert len(passages) == 8
    scores = [p.score for p in passages]
    assert scores == sorted(scores, reverse=True)
    assert len({p.chunk_id for p in passages}) == 8
    documents = {}
    for p in passages:
        text = documents.setdefault(p.path, _body(p.path))
        assert text[p.start : p.end] == p.text
        for start, end in p.sentences:
            assert 0 <= start < end <= len(p.text)


def _body(path: str) -> str:
    from assistant.documents import load_file

    return load_file(Path(path)).page_content


def test_passage_about_the_facility_is_found_by_naming_lynas(corpus_assistant: Assistant) -> None:
    passages = corpus_assistant.retriever.retrieve("Where is the Lynas rare earth processing plant?", k=3)
    assert any("Pahang" in p.text and "that facility treats feedstock" in p.text for p in passages)


def test_a_question_naming_only_an_abbreviation_finds_the_passage_that_defines_it(
    corpus_assistant: Assistant,
) -> None:
    """The embedding model does not know "AFTA"; the corpus spells it out, and a second
    dense search carries that long form (`with_long_forms`)."""
    defines = "The ASEAN Free Trade Area (AFTA) is a trade bloc agreement"
    question = "What's AFTA, in a nutshell?"
    best = corpus_assistant.retriever.retrieve(question, k=3)[0]
    assert defines in best.text
    plain = corpus_assistant.corpus.embeddings.embed_query(question)
    found = corpus_assistant.corpus.dense_search(plain, 50, None)
    plain_similarity = next(similarity for chunk, similarity in found if defines in chunk.page_content)
    assert best.dense_score > plain_similarity + 0.1


def test_title_makes_an_unnamed_passage_findable(settings: Settings, tmp_path: Path) -> None:
    """The passage never says "Lynas"; only its document's title does."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "plant.md").write_text(
        '---\ntitle: "Lynas Advanced Materials Plant"\n---\n\n'
        "The facility in Gebeng separates mixed rare earth carbonate into individual oxides.\n"
    )
    (folder / "palm.md").write_text(
        '---\ntitle: "Palm Oil Outlook"\n---\n\n'
        "The refinery in Pasir Gudang processes crude palm oil into cooking oil for export.\n"
    )
    (folder / "chips.md").write_text(
        '---\ntitle: "Chip Packaging"\n---\n\n'
        "The plant in Penang packages and tests microcontrollers for car makers.\n"
    )
    assistant = Assistant(settings)
    assistant.ingest([folder])
    passages = assistant.retriever.retrieve("What does the Lynas plant do?", k=3)
    top = passages[0]
    assert top.title == "Lynas Advanced Materials Plant"
    assert "Lynas" not in top.text and top.text.startswith("The facility in Gebeng")
    assert top.dense_score > max(p.dense_score for p in passages[1:])
    assert top.bm25_score > 0  # the title's words are indexed for BM25 as well


PUBLISHER = "Office of the United States Trade Representative"


def test_publisher_filter(corpus_assistant: Assistant) -> None:
    filters = Filters(publishers=[PUBLISHER])
    passages = corpus_assistant.retriever.retrieve("critical minerals rare earths", filters=filters, k=10)
    assert passages
    assert {p.publisher for p in passages} == {PUBLISHER}
    unfiltered = corpus_assistant.retriever.retrieve("critical minerals rare earths", k=10)
    assert {p.publisher for p in unfiltered} - {PUBLISHER}  # the filter did restrict


@pytest.mark.parametrize(
    "source",
    [
        str(CORPUS / "exim_ctep-critical-minerals.md"),
        "https://exim.gov/about/special-initiatives/ctep/critical-minerals",
    ],
    ids=["path", "url"],
)
def test_source_filter(corpus_assistant: Assistant, source: str) -> None:
    filters = Filters(sources=[source])
    passages = corpus_assistant.retriever.retrieve("rare earth export ban in Malaysia", filters=filters, k=10)
    assert passages
    assert {Path(p.path).name for p in passages} == {"exim_ctep-critical-minerals.md"}


def test_relative_source_path_filter(corpus_assistant: Assistant, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    filters = Filters(sources=["corpus/trade-gov_ccg_malaysia-import-tariffs.md"])
    passages = corpus_assistant.retriever.retrieve("critical minerals cooperation", filters=filters, k=10)
    assert passages and {Path(p.path).name for p in passages} == {"trade-gov_ccg_malaysia-import-tariffs.md"}


def test_date_range_filter(corpus_assistant: Assistant) -> None:
    filters = Filters(date_from="2021", date_to="2021-12")
    passages = corpus_assistant.retriever.retrieve("rare earth export ban", filters=filters, k=10)
    assert passages
    assert {p.date for p in passages} == {"2021-11-06"}
    later = Filters(date_from="2025-10-02")
    passages = corpus_assistant.retriever.retrieve("rare earth export ban", filters=later, k=10)
    assert passages and {p.date for p in passages} == {"2026-02-04"}


@pytest.mark.parametrize(
    "filters",
    [
        Filters(date_from="2000"),
        Filters(date_to="2030-12-31"),
        Filters(date_from="2000", date_to="2030"),
    ],
    ids=["date_from", "date_to", "both"],
)
def test_date_filters_exclude_undated_documents(corpus_assistant: Assistant, filters: Filters) -> None:
    # The best passages for this query are in undated documents ("date: unknown", indexed as "").
    query = "Malaysia banned the export of unprocessed rare earth ores"
    assert corpus_assistant.retriever.retrieve(query, k=1)[0].date == ""
    passages = corpus_assistant.retriever.retrieve(query, filters=filters, k=10)
    assert passages
    undated = [(p.title, p.date) for p in passages if not p.date]
    assert not undated, undated
    assert corpus_assistant.retriever.undated_left_out(filters) == 8  # 8 of the 13 have no date


def test_date_filters_include_undated_documents_on_request(corpus_assistant: Assistant) -> None:
    query = "Malaysia banned the export of unprocessed rare earth ores"
    filters = Filters(date_from="2024-01-01", date_to="2026-12-31", include_undated=True)
    passages = corpus_assistant.retriever.retrieve(query, filters=filters, k=10)
    assert passages[0].date == ""  # the best passage, in an undated document, is back
    assert {p.date for p in passages} <= {"", "2026-02-04", "October 2025 (per URL; signed October 26, 2025)"}
    assert corpus_assistant.retriever.undated_left_out(filters) == 0


@pytest.mark.parametrize("bad", ["last year", "2024-02-30", "2023-13", "²⁰²³"])
def test_bad_date_filter_is_rejected(bad: str) -> None:
    """Each is refused with the format hint (a day that does not exist passed before, and
    superscript digits reached int() with its own message)."""
    with pytest.raises(ValueError, match="YYYY"):
        Filters(date_from=bad)


def test_real_dates_and_partial_dates_pass() -> None:
    assert Filters(date_from="2024-02-29", date_to="2025-02").date_to == "2025-02"


def test_near_duplicates_collapse(settings: Settings, tmp_path: Path) -> None:
    paragraph = (
        "The cobalt refinery in Kuantan doubled its output last year after a new leaching "
        "circuit was commissioned, and the operator plans to export refined cobalt sulphate "
        "to battery makers in Japan and Korea."
    )
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "one.md").write_text(f'---\ntitle: "Cobalt Wire Story"\n---\n\n{paragraph}\n')
    (folder / "two.md").write_text(f'---\ntitle: "Cobalt Press Release"\n---\n\n{paragraph}\n')
    (folder / "three.md").write_text(
        '---\ntitle: "Nickel Notes"\n---\n\nNickel pig iron from Indonesia keeps nickel prices low.\n'
    )
    assistant = Assistant(settings)
    assistant.ingest([folder])
    assert assistant.retriever.chunk_count == 3
    passages = assistant.retriever.retrieve("cobalt refinery in Kuantan leaching circuit", k=5)
    holding = [p for p in passages if "leaching circuit" in p.text]
    assert len(holding) == 1
    (kept,) = holding
    assert len(kept.duplicates) == 1
    assert kept.duplicates[0] != kept.chunk_id
    assert any(p.title == "Nickel Notes" for p in passages)  # distinct passages still come back
