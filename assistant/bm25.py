"""BM25Okapi over a sparse matrix of term counts, changed by the rows that change.

The lexical index (`assistant.lexical`) keeps the corpus's term counts, not its BM25
weights: the weights depend on corpus-wide numbers (how many chunks, their mean length,
how many hold each term), so one new chunk changes every weight, and recomputing them
all took 1.4 s of each change at 300k chunks, on every replica. Here a question computes
the weights of its own terms' columns (a few thousand entries, vectorised) from the
current corpus-wide numbers, and a change only appends rows and forgets others.

Rows live in two segments: `main`, built once, and `tail`, the rows added since. A
dropped row stays in its segment, left out of `order` (the index's rows, in order, as
segment rows) and of the corpus-wide numbers. When the tail and the dropped rows grow to
a tenth of `main`, both are merged into a new `main` (about 2 s at 300k chunks), so a
change costs what it changes, and the occasional merge what the corpus is.

The scores are rank_bm25's `BM25Okapi` (k1 1.5, b 0.75, a term in more than half the
chunks weighted by 0.25 x the mean idf), computed the same way, so no ranking changed.
"""

from __future__ import annotations

import os
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import sparse

K1, B, EPSILON = 1.5, 0.75, 0.25  # rank_bm25's BM25Okapi defaults
COUNT_TYPE = np.uint16  # a term's count in one chunk: 2 bytes, not 4 (33 MB at 300k chunks, measured)
MERGE_FRACTION = 0.1  # tail rows plus dropped rows, as a fraction of main, that start a merge
MERGE_MINIMUM = 2_000  # ... but never for fewer rows than this: a small corpus merges rarely
# Weights of the main segment's columns kept for the next question (a common term's column
# holds a row for most chunks): at most this many, 4 bytes each (their rows are views of
# the counts' own). At 300k chunks the 30 golden questions' columns fill 3.6M.
CACHED_WEIGHTS = 4_000_000
Weights = tuple[np.ndarray, np.ndarray]  # the rows holding a term, and its weight in each
FILES = ("main.npz", "tail.npz", "order.npy", "lengths.npy", "frequency.npy")


class Bm25Error(ValueError):
    """Saved BM25 files that are missing, unreadable or do not fit together."""


@dataclass(frozen=True)
class Bm25:
    """BM25Okapi scores over the rows of two segments of term counts.

    Immutable: a change returns a new one, so a search running meanwhile keeps a
    consistent view. `main_saved` is the file `main` was read from or last written to;
    saving again links it instead of writing it (a change writes what it changed).
    """

    terms: dict[str, int]  # term -> column
    main: sparse.csc_matrix  # term counts of segment rows 0 .. main rows - 1
    tail: sparse.csc_matrix  # of segment rows main rows .. (added since main was built)
    order: np.ndarray  # the index's rows, in order, as segment rows
    lengths: np.ndarray  # each segment row's number of terms
    frequency: np.ndarray  # per column: how many of the rows in `order` hold the term
    main_saved: Path | None = None
    _idf: np.ndarray = field(init=False, repr=False, compare=False)
    _norm: np.ndarray = field(init=False, repr=False, compare=False)
    _in_order: bool = field(init=False, repr=False, compare=False)  # order is every segment row, in turn
    _cache: _ColumnCache = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """The corpus-wide numbers every question uses, computed once per change."""
        alive = len(self.order)
        mean_length = float(self.lengths[self.order].mean()) if alive else 0.0
        norm = K1 * (1 - B + B * self.lengths / (mean_length or 1.0))
        idf = np.log(alive - self.frequency + 0.5) - np.log(self.frequency + 0.5)
        present = self.frequency > 0
        floor = EPSILON * idf[present].mean() if present.any() else 0.0
        object.__setattr__(self, "_idf", np.where(idf < 0, floor, idf).astype(np.float32))
        object.__setattr__(self, "_norm", norm.astype(np.float32))
        in_order = alive == self.segment_rows and bool(np.array_equal(self.order, np.arange(alive)))
        object.__setattr__(self, "_in_order", in_order)
        object.__setattr__(self, "_cache", _ColumnCache(CACHED_WEIGHTS))

    # --- building and changing -----------------------------------------------------

    @classmethod
    def build(cls, term_lists: list[list[str]], known: dict[str, int] | None = None) -> Bm25:
        """The index of `term_lists` (each chunk's `terms`), extending `known` columns."""
        columns, counts = _count_terms(term_lists, known)
        return cls.from_counts(columns, counts)

    @classmethod
    def from_counts(cls, terms: dict[str, int], counts: sparse.spmatrix) -> Bm25:
        """One segment holding `counts` (rows: chunks, columns: `terms`)."""
        main = sparse.csc_matrix(counts, dtype=COUNT_TYPE)
        return cls(
            terms,
            main,
            _empty(len(terms)),
            np.arange(main.shape[0], dtype=np.int64),
            _row_lengths(main),
            np.diff(main.indptr).astype(np.float64),
        )

    @property
    def rows(self) -> int:
        return len(self.order)

    @property
    def segment_rows(self) -> int:
        return int(self.main.shape[0] + self.tail.shape[0])

    def updated(self, keep: np.ndarray, new_term_lists: list[list[str]]) -> Bm25:
        """The rows numbered in `keep`, then the rows of `new_term_lists`: only the new
        chunks' terms are read, and only the dropped rows' counts."""
        columns, added = _count_terms(new_term_lists, self.terms)
        kept = self.order[np.asarray(keep, dtype=np.int64)]
        dropped = np.zeros(self.segment_rows, dtype=bool)
        dropped[self.order] = True
        dropped[kept] = False
        dropped = np.flatnonzero(dropped)  # sorted (numpy's set functions took 0.7 s at 300k)
        frequency = np.zeros(len(columns), dtype=np.float64)
        frequency[: len(self.frequency)] = self.frequency
        frequency -= self._holding(dropped, len(columns))
        frequency += np.diff(sparse.csc_matrix(added).indptr)
        tail = sparse.vstack(
            [_with_columns(self.tail, len(columns)), sparse.csc_matrix(added, dtype=COUNT_TYPE)],
            format="csc",
            dtype=COUNT_TYPE,
        )
        changed = Bm25(
            columns,
            self.main,
            tail,
            np.concatenate([kept, np.arange(len(new_term_lists), dtype=np.int64) + self.segment_rows]),
            np.concatenate([self.lengths, _row_lengths(added)]).astype(np.float32),
            frequency,
            self.main_saved,
        )
        return changed.merged() if changed.merge_due else changed

    @property
    def merge_due(self) -> bool:
        """Whether the tail and the dropped rows outgrew a tenth of `main`."""
        waste = self.tail.shape[0] + self.segment_rows - self.rows
        return waste > max(MERGE_MINIMUM, MERGE_FRACTION * self.main.shape[0])

    def merged(self) -> Bm25:
        """The same index as one segment, the dropped rows gone."""
        every = sparse.vstack([_with_columns(self.main, len(self.terms)), self.tail], format="csr")
        return Bm25.from_counts(self.terms, every[self.order])

    def _holding(self, segment_rows: np.ndarray, columns: int) -> np.ndarray:
        """Per column: how many of `segment_rows` hold the term."""
        held = np.zeros(columns, dtype=np.float64)
        split = int(np.searchsorted(segment_rows, self.main.shape[0]))
        parts = ((self.main, segment_rows[:split]), (self.tail, segment_rows[split:] - self.main.shape[0]))
        for segment, rows in parts:
            if len(rows):
                part = segment[rows]
                held[: part.shape[1]] += np.diff(part.indptr)
        return held

    # --- scoring ---------------------------------------------------------------------

    def scores(self, query_terms: list[str]) -> np.ndarray:
        """Every row's BM25 score for `query_terms` (a repeated term counts again)."""
        asked = Counter(self.terms[term] for term in query_terms if term in self.terms)
        parts: list[Weights] = []
        repeated: list[float] = []
        for column, repeats in asked.items():
            if column < self.main.shape[1]:
                parts.append(self._cache.get(column, self._main_weights))
                repeated.append(repeats)
            if column < self.tail.shape[1]:
                parts.append(self._weights(self.tail, column, self.main.shape[0]))
                repeated.append(repeats)
        if not parts:
            return np.zeros(self.rows, dtype=np.float32)
        # Summed by scipy in one pass over the asked columns: numpy's `scores[rows] += w`
        # per term took 3-4 times as long at 1M chunks.
        bounds = np.cumsum([0] + [len(rows) for rows, _ in parts])
        columns = sparse.csc_matrix(
            (np.concatenate([w for _, w in parts]), np.concatenate([r for r, _ in parts]), bounds),
            shape=(self.segment_rows, len(parts)),
        )
        scores = columns @ np.asarray(repeated, dtype=np.float32)
        return scores if self._in_order else scores[self.order]

    def _main_weights(self, column: int) -> Weights:
        return self._weights(self.main, column, 0)

    def _weights(self, segment: sparse.csc_matrix, column: int, first_row: int) -> Weights:
        """The segment rows holding term `column` and their BM25 weights for it."""
        start, stop = segment.indptr[column], segment.indptr[column + 1]
        rows = segment.indices[start:stop]  # a view, for the main segment (what the cache holds)
        rows = rows + first_row if first_row else rows
        counts = segment.data[start:stop].astype(np.float32)
        return rows, self._idf[column] * counts * (K1 + 1) / (counts + self._norm[rows])

    # --- saving ----------------------------------------------------------------------

    def save(self, directory: Path) -> Bm25:
        """Write the index into `directory` (which must exist); `main` is linked from
        where it was saved before when the file system allows, else written. Returns
        the index with `main_saved` pointing there."""
        main_path = directory / "main.npz"
        if not (self.main_saved and _link(self.main_saved, main_path)):
            sparse.save_npz(main_path, self.main, compressed=False)
        sparse.save_npz(directory / "tail.npz", self.tail, compressed=False)
        np.save(directory / "order.npy", self.order)
        np.save(directory / "lengths.npy", self.lengths)
        np.save(directory / "frequency.npy", self.frequency)
        return Bm25(self.terms, self.main, self.tail, self.order, self.lengths, self.frequency, main_path)

    @classmethod
    def load(cls, directory: Path, terms: dict[str, int]) -> Bm25:
        """The index saved in `directory` with `save`; raises `Bm25Error` when its files
        are missing, unreadable or disagree."""
        try:
            main = sparse.load_npz(directory / "main.npz").tocsc()
            tail = sparse.load_npz(directory / "tail.npz").tocsc()
            order, lengths, frequency = (np.load(directory / name) for name in FILES[2:])
        except (OSError, ValueError) as error:
            raise Bm25Error(f"its term counts could not be read ({error})") from None
        segment_rows = main.shape[0] + tail.shape[0]
        if not (
            main.shape[1] <= len(terms) == tail.shape[1] == len(frequency)
            and len(lengths) == segment_rows
            and (not len(order) or 0 <= order.min() <= order.max() < segment_rows)
        ):
            raise Bm25Error("its term counts do not fit together")
        return cls(terms, main, tail, order, lengths, frequency, directory / "main.npz")


class _ColumnCache:
    """The most recently used columns' (rows, weights), up to `limit` weights in all.
    Shared by the threads that search one index; a change makes a new index, and a new
    cache, since every weight depends on the corpus-wide numbers."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._held: OrderedDict[int, Weights] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, column: int, compute: Callable[[int], Weights]) -> Weights:
        with self._lock:
            if column in self._held:
                self._held.move_to_end(column)
                return self._held[column]
        found = compute(column)  # outside the lock: two threads may compute one column, harmlessly
        if len(found[1]) > self._limit:
            return found
        with self._lock:
            if column not in self._held:
                self._held[column] = found
                self._size += len(found[1])
                while self._size > self._limit:
                    _, (_, weights) = self._held.popitem(last=False)
                    self._size -= len(weights)
        return found


def _count_terms(
    term_lists: list[list[str]], known: dict[str, int] | None = None
) -> tuple[dict[str, int], sparse.csr_matrix]:
    """The columns (`known` extended with new terms) and the term counts of `term_lists`."""
    columns = dict(known or {})
    lengths = np.fromiter((len(chunk) for chunk in term_lists), dtype=np.int64, count=len(term_lists))
    column_ids = np.fromiter(
        (columns.setdefault(term, len(columns)) for chunk in term_lists for term in chunk),
        dtype=np.int32,
        count=int(lengths.sum()),
    )
    rows = np.repeat(np.arange(len(term_lists), dtype=np.int32), lengths)
    counts = sparse.csr_matrix(
        (np.ones(len(column_ids), dtype=np.float32), (rows, column_ids)),
        shape=(len(term_lists), len(columns)),
    )
    counts.sum_duplicates()
    return columns, counts


def _row_lengths(counts: sparse.spmatrix) -> np.ndarray:
    return np.asarray(counts.sum(axis=1, dtype=np.float64)).ravel().astype(np.float32)


def _empty(columns: int) -> sparse.csc_matrix:
    return sparse.csc_matrix((0, columns), dtype=COUNT_TYPE)


def _with_columns(counts: sparse.csc_matrix, columns: int) -> sparse.csc_matrix:
    """`counts` widened to `columns` columns (the new ones empty), its arrays shared."""
    extra = columns - counts.shape[1]
    if extra <= 0:
        return counts
    indptr = np.concatenate([counts.indptr, np.full(extra, counts.indptr[-1], dtype=counts.indptr.dtype)])
    return sparse.csc_matrix((counts.data, counts.indices, indptr), shape=(counts.shape[0], columns))


def _link(source: Path, target: Path) -> bool:
    """Hard-link `source` to `target` (replacing it); False when that cannot be done."""
    try:
        target.unlink(missing_ok=True)
        os.link(source, target)
    except OSError:
        return False
    return True
