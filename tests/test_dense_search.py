"""The index's dense search: retrieval's filters translated into Chroma's `where` by the
index module, checked against a real Chroma store and against `Filters.matches` (the
in-memory check the lexical side uses), so that both sides keep the same chunks."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.index import ChunkFilter, CorpusIndex, chroma_where
from assistant.retrieval import Filters

# name -> (publisher, date, body): dated, undated ("unknown" and none) and two publishers.
DOCUMENTS = {
    "tin.md": ("Office A", "2021-11-06", "Tin smelting in Butterworth ships ingots to Japan."),
    "palm.md": ("Office B", "2025-10-26", "Palm oil exporters pay a windfall levy on crude oil."),
    "chips.md": ("Office A", "unknown", "Penang assembles and tests semiconductors for export."),
    "rubber.md": ("", "", "Rubber gloves made in Klang are sold to hospitals worldwide."),
}


@pytest.fixture(scope="module")
def dense_index(tmp_path_factory: pytest.TempPathFactory) -> CorpusIndex:
    folder = tmp_path_factory.mktemp("dense")
    corpus = folder / "corpus"
    corpus.mkdir()
    for name, (publisher, date, body) in DOCUMENTS.items():
        fields = [f'title: "{name[:-3].title()} Report"', f'source: "https://example.org/{name[:-3]}"']
        fields += [f'publisher: "{publisher}"'] if publisher else []
        fields += [f'date: "{date}"'] if date else []
        text = "---\n" + "\n".join(fields) + f"\n---\n\n{body}\n\n{body} It grew last year.\n"
        (corpus / name).write_text(text, encoding="utf-8")
    index = CorpusIndex(Settings(data_dir=folder / "data"))
    report = index.ingest([corpus])
    assert not report.errors, report.errors
    return index


def test_an_empty_filter_restricts_nothing() -> None:
    assert chroma_where(ChunkFilter()) is None
    assert chroma_where(Filters().chunk_filter()) is None
    assert chroma_where(Filters(include_undated=True).chunk_filter()) is None  # no date filter


def test_a_date_filter_keeps_undated_chunks_only_on_request() -> None:
    dated = {"$and": [{"date_sort": {"$gte": 20210101}}, {"date_sort": {"$lte": 20211231}}]}
    assert chroma_where(Filters(date_from="2021", date_to="2021-12").chunk_filter()) == dated
    with_undated = Filters(date_from="2021", date_to="2021-12", include_undated=True)
    assert chroma_where(with_undated.chunk_filter()) == {"$or": [dated, {"date_sort": 0}]}


def test_open_date_bounds_and_combined_clauses() -> None:
    chunk_filter = Filters(publishers=["Office A"], date_to="2022-02").chunk_filter()
    assert chunk_filter.dates == (1, 20220231)  # a month as upper bound ends on day 31: all its days
    assert chroma_where(chunk_filter) == {
        "$and": [
            {"publisher": {"$in": ["Office A"]}},
            {"$and": [{"date_sort": {"$gte": 1}}, {"date_sort": {"$lte": 20220231}}]},
        ]
    }


def test_relative_sources_match_by_resolved_path_or_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    chunk_filter = Filters(sources=["corpus/tin.md"]).chunk_filter()
    keys = sorted(["corpus/tin.md", str(tmp_path.resolve() / "corpus" / "tin.md")])
    assert chunk_filter.sources == tuple(keys)
    assert chroma_where(chunk_filter) == {"$or": [{"path": {"$in": keys}}, {"source": {"$in": keys}}]}


@pytest.mark.parametrize(
    "filters",
    [
        Filters(publishers=["Office A"]),
        Filters(sources=["https://example.org/palm"]),
        Filters(date_from="2021", date_to="2021-12"),
        Filters(date_from="2024"),
        Filters(date_from="2024", include_undated=True),
        Filters(date_to="2022", publishers=["Office A"], include_undated=True),
        Filters(sources=["https://example.org/tin", "https://example.org/rubber"], date_to="2030"),
    ],
    ids=["publisher", "source-url", "date-range", "date-from", "undated-too", "publisher-undated", "all"],
)
def test_dense_search_keeps_exactly_what_filters_match(dense_index: CorpusIndex, filters: Filters) -> None:
    chunks = dense_index.all_chunks()
    expected = {chunk.id for chunk in chunks if filters.matches(chunk.metadata)}
    assert 0 < len(expected) < len(chunks)  # each case keeps some chunks and leaves some out
    vector = dense_index.embeddings.embed_query("exports")
    found = dense_index.dense_search(vector, k=len(chunks), chunk_filter=filters.chunk_filter())
    assert {chunk.id for chunk, _ in found} == expected


def test_dense_search_returns_cosine_similarities_nearest_first(dense_index: CorpusIndex) -> None:
    chunks = dense_index.all_chunks()
    target = next(chunk for chunk in chunks if "Rubber gloves" in chunk.page_content)
    vector = dense_index.embeddings.embed_query(target.page_content)
    found = dense_index.dense_search(vector, k=len(chunks))
    similarities = [similarity for _, similarity in found]
    assert len(found) == len(chunks)
    assert similarities == sorted(similarities, reverse=True)
    assert found[0][0].id == target.id and similarities[0] > 0.99  # its own text: cosine ~1, not distance ~0
    assert all(-1.0 <= s <= 1.0 + 1e-6 for s in similarities)


def test_count_follows_the_collection_through_a_drop(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "one.md").write_text('---\ntitle: "One"\n---\n\nTin is smelted in Butterworth.\n')
    index = CorpusIndex(Settings(data_dir=tmp_path / "data"))
    index.ingest([corpus])
    assert index.count() == len(index.stored_ids()) > 0
    index.drop()  # the collection is replaced by a new, empty one
    assert index.count() == 0
    assert index.changes.last().removed is None  # replicas compare ids after a drop
    index.ingest([corpus])
    assert index.count() == len(index.stored_ids()) > 0
