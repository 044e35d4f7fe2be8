"""Near-duplicate story ids: MinHash over word shingles, grouped through LSH bands.

Wire copy is republished with small rewrites (a new dateline, a changed word, a dropped
closing paragraph). Every article gets a ``story_id``: the id of the earliest article
(by published_at, then fetched_at, then input order) of its near-duplicate group.
Nothing is dropped. Candidate pairs come only from LSH band collisions, so the cost
grows with the number of articles, not with its square; each candidate pair is then
confirmed by the exact Jaccard similarity of its two shingle sets before groups are joined.
"""

from __future__ import annotations

import dataclasses
import re
import zlib
from datetime import UTC, datetime
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from pipeline.models import Article

# Signatures only propose candidates (each candidate pair is then checked on its exact shingle
# sets), so 64 permutations are enough; they halve the cost of the signature pass against 128.
NUM_PERM = 64
# Word 3-grams: a changed word breaks only three shingles, so light rewrites stay similar,
# while unrelated texts on the same topic share almost none.
SHINGLE_WORDS = 3
# Buckets larger than this are checked against their first member only (boilerplate bodies).
MAX_BUCKET_PAIRS = 64
_TOKEN = re.compile(r"\w+")
_MASK64 = (1 << 64) - 1
_U64 = np.uint64
_EARLY = datetime.min.replace(tzinfo=UTC)

U64Array = npt.NDArray[np.uint64]


def _permutations() -> tuple[U64Array, U64Array]:
    """Fixed multiply-shift hash parameters, so story ids are the same in every run."""
    rng = np.random.default_rng(20260101)
    a = rng.integers(1, 2**63, size=NUM_PERM, dtype=np.uint64) * _U64(2) + _U64(1)  # odd multipliers
    b = rng.integers(0, 2**63, size=NUM_PERM, dtype=np.uint64)
    return a, b


_A, _B = _permutations()
_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))


def _mix(x: U64Array) -> U64Array:
    """splitmix64 finaliser, vectorised: spreads crc32 values over 64 bits."""
    x = x ^ (x >> _U64(30))
    x = x * _MIX[1]
    x = x ^ (x >> _U64(27))
    x = x * _MIX[2]
    return x ^ (x >> _U64(31))


class WordHashes(dict[str, int]):
    """crc32 of each word, computed once per batch (a lookup is cheaper than hashing again)."""

    def __missing__(self, word: str) -> int:
        value = self[word] = zlib.crc32(word.encode("utf-8"))
        return value


def shingle_hashes(text: str, cache: WordHashes | None = None) -> U64Array:
    """64-bit hashes of the word 3-grams of a text (lower-cased word tokens), in text order."""
    words = _TOKEN.findall(text.lower())
    if not words:
        return np.empty(0, dtype=np.uint64)
    memo = cache if cache is not None else WordHashes()
    w = _mix(np.fromiter(map(memo.__getitem__, words), dtype=np.uint64, count=len(words)) + _MIX[0])
    if len(w) < SHINGLE_WORDS:
        return _mix(np.asarray([int(np.bitwise_xor.reduce(w))], dtype=np.uint64))
    n = len(w) - SHINGLE_WORDS + 1
    combined = w[:n].copy()
    for k in range(1, SHINGLE_WORDS):
        combined = combined * _MIX[0] + w[k:k + n]
    return _mix(combined)  # may repeat; made unique only for the few pairs that are compared exactly


def signatures(parts: list[U64Array]) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.bool_]]:
    """A MinHash signature row per shingle set (NUM_PERM values) and which sets are not empty."""
    has_words = np.array([len(p) > 0 for p in parts], dtype=bool)
    sig = np.full((len(parts), NUM_PERM), np.iinfo(np.uint32).max, dtype=np.uint32)
    nonempty = [p for p in parts if len(p)]
    if not nonempty:
        return sig, has_words
    flat = np.concatenate(nonempty)
    offsets = np.cumsum([0] + [len(p) for p in nonempty[:-1]])
    rows = np.flatnonzero(has_words)
    for j in range(NUM_PERM):
        hashed = (flat * _A[j] + _B[j]) >> _U64(32)  # multiply-shift: a universal 64 -> 32 bit hash
        sig[rows, j] = np.minimum.reduceat(hashed, offsets).astype(np.uint32)
    return sig, has_words


def _probability(threshold: float, bands: int, rows: int, below: bool) -> float:
    """Area under the LSH collision curve below the threshold (false positives) or above it (misses)."""
    steps = 200
    lo, hi = (0.0, threshold) if below else (threshold, 1.0)
    xs = np.linspace(lo, hi, steps)
    ys = 1 - (1 - xs**rows) ** bands
    if not below:
        ys = 1 - ys
    return float(np.trapezoid(ys, xs))


# Candidates are confirmed exactly, so a false candidate costs one set comparison while a missed
# pair splits a story: misses weigh more when the layout is chosen.
FALSE_POSITIVE_WEIGHT = 0.1
MISS_WEIGHT = 0.9


@lru_cache(maxsize=16)
def band_layout(threshold: float) -> tuple[int, int]:
    """Bands × rows minimising weighted false candidates and misses for this threshold (as datasketch does)."""
    best: tuple[float, int, int] | None = None
    for bands in range(1, NUM_PERM + 1):
        for rows in range(1, NUM_PERM // bands + 1):
            error = (FALSE_POSITIVE_WEIGHT * _probability(threshold, bands, rows, True)
                     + MISS_WEIGHT * _probability(threshold, bands, rows, False))
            if best is None or error < best[0]:
                best = (error, bands, rows)
    assert best is not None
    return best[1], best[2]


class _UnionFind:
    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if ri != rj:
            self.parent[max(ri, rj)] = min(ri, rj)


def _candidate_buckets(sig: npt.NDArray[np.uint32], rows_ok: npt.NDArray[np.intp], bands: int,
                       rows: int) -> list[npt.NDArray[np.intp]]:
    """Groups of articles whose signatures agree on every row of some band."""
    buckets: list[npt.NDArray[np.intp]] = []
    for band in range(bands):
        block = np.ascontiguousarray(sig[rows_ok, band * rows:(band + 1) * rows])
        keys = block.view(np.dtype((np.void, block.dtype.itemsize * rows))).ravel()
        _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        order = np.argsort(inverse, kind="stable")  # members of one bucket become neighbours
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        for group in np.flatnonzero(counts > 1):
            buckets.append(rows_ok[order[starts[group]:starts[group] + counts[group]]])
    return buckets


def jaccard(a: U64Array, b: U64Array) -> float:
    """Exact Jaccard similarity of two sorted, unique shingle-hash arrays."""
    common = len(np.intersect1d(a, b, assume_unique=True))
    union = len(a) + len(b) - common
    return common / union if union else 0.0


def near_duplicate_groups(texts: list[str], threshold: float) -> list[int]:
    """For each text, the index of the first text of its near-duplicate group."""
    cache = WordHashes()
    parts = [shingle_hashes(t, cache) for t in texts]
    sig, has_words = signatures(parts)
    unique: dict[int, U64Array] = {}

    def shingle_set(i: int) -> U64Array:
        if i not in unique:
            unique[i] = np.unique(parts[i])
        return unique[i]

    bands, rows = band_layout(round(threshold, 3))
    uf = _UnionFind(len(texts))
    rows_ok = np.flatnonzero(has_words)
    for members in _candidate_buckets(sig, rows_ok, bands, rows):
        first = int(members[0])
        pairs = ([(int(i), int(j)) for k, i in enumerate(members) for j in members[k + 1:]]
                 if len(members) * (len(members) - 1) // 2 <= MAX_BUCKET_PAIRS
                 else [(first, int(j)) for j in members[1:]])
        for i, j in pairs:
            if uf.find(i) != uf.find(j) and jaccard(shingle_set(i), shingle_set(j)) >= threshold:
                uf.union(i, j)
    return [uf.find(i) for i in range(len(texts))]


def _age(article: Article, order: int) -> tuple[bool, datetime, bool, datetime, int]:
    return (article.published_at is None, article.published_at or _EARLY,
            article.fetched_at is None, article.fetched_at or _EARLY, order)


def assign_story_ids(articles: list[Article], threshold: float) -> list[Article]:
    """The same articles in the same order, each with the id of its group's earliest article."""
    if not articles:
        return []
    roots = near_duplicate_groups([a.body for a in articles], threshold)
    earliest: dict[int, int] = {}
    for index, root in enumerate(roots):
        best = earliest.get(root)
        if best is None or _age(articles[index], index) < _age(articles[best], best):
            earliest[root] = index
    return [dataclasses.replace(a, story_id=articles[earliest[roots[i]]].id) for i, a in enumerate(articles)]
