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


# Texts are tokenised and hashed in chunks of this many, as one array of code points each:
# about 2,000 news bodies make arrays of tens of megabytes, not gigabytes.
CHUNK_TEXTS = 2000
# Characters of scripts written without spaces (Han, kana, Thai, Lao, Khmer, Myanmar) are
# words on their own, so Chinese or Japanese copy gets shingles as fine-grained as English.
_UNSPACED_RANGES = ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF),
                    (0x0E00, 0x0EFF), (0x1000, 0x109F), (0x1780, 0x17FF))
# Per-position multipliers of the polynomial word hash; positions wrap at this length.
_MAX_POSITIONS = 64


@lru_cache(maxsize=1)
def _char_tables() -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_], U64Array]:
    """For every code point of the basic plane: is it a word character (as regex \\w), is it unspaced."""
    word = np.fromiter((chr(c).isalnum() or c == 0x5F for c in range(0x10000)), dtype=bool, count=0x10000)
    unspaced = np.zeros(0x10000, dtype=bool)
    for lo, hi in _UNSPACED_RANGES:
        unspaced[lo:hi + 1] = True
    powers = np.empty(_MAX_POSITIONS, dtype=np.uint64)
    value = 1
    for k in range(_MAX_POSITIONS):
        powers[k] = value
        value = (value * 0x100000001B3) & _MASK64  # FNV prime: odd, so every power is distinct
    return word, unspaced, powers


def _chunk_shingles(texts: list[str]) -> tuple[U64Array, npt.NDArray[np.intp]]:
    """Shingle hashes of some texts, concatenated in text order, and the text each belongs to."""
    word_table, unspaced_table, powers = _char_tables()
    lowered = [t.lower() for t in texts]
    joined = "\n".join(lowered) + "\n"
    cps = np.frombuffer(joined.encode("utf-32-le", errors="replace"), dtype=np.uint32)
    text_starts = np.cumsum([0] + [len(t) + 1 for t in lowered[:-1]])
    basic = cps < 0x10000
    low = (cps & 0xFFFF).astype(np.intp)
    is_word = np.where(basic, word_table[low], True)  # astral characters (rare scripts) count as letters
    unspaced = basic & unspaced_table[low]
    prev_word = np.concatenate(([False], is_word[:-1]))
    prev_unspaced = np.concatenate(([False], unspaced[:-1]))
    starts = is_word & (~prev_word | unspaced | prev_unspaced)
    char_idx = np.flatnonzero(is_word)
    if len(char_idx) == 0:
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.intp)
    word_first = np.flatnonzero(starts[char_idx])  # where each word begins, in char_idx order
    word_start_pos = char_idx[word_first]
    word_of_char = np.cumsum(starts[char_idx]) - 1
    position = char_idx - word_start_pos[word_of_char]
    values = cps[char_idx].astype(np.uint64) * powers[position % _MAX_POSITIONS]
    words = _mix(np.add.reduceat(values, word_first) + _MIX[0])
    text_of_word = np.searchsorted(text_starts, word_start_pos, side="right") - 1

    n = len(words) - SHINGLE_WORDS + 1
    hashes: list[U64Array] = []
    owners: list[npt.NDArray[np.intp]] = []
    if n > 0:
        combined = words[:n].copy()
        for k in range(1, SHINGLE_WORDS):
            combined = combined * _MIX[0] + words[k:k + n]
        inside = text_of_word[:n] == text_of_word[SHINGLE_WORDS - 1:]  # no shingle spans two texts
        hashes.append(_mix(combined[inside]))
        owners.append(text_of_word[:n][inside])
    # Texts shorter than one shingle get one hash of all their words.
    counts = np.bincount(text_of_word, minlength=len(texts))
    for text in np.flatnonzero((counts > 0) & (counts < SHINGLE_WORDS)):
        mine = words[text_of_word == text]
        hashes.append(_mix(np.array([np.bitwise_xor.reduce(mine)], dtype=np.uint64)))
        owners.append(np.array([text], dtype=np.intp))
    if not hashes:
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.intp)
    flat, owner = np.concatenate(hashes), np.concatenate(owners)
    order = np.argsort(owner, kind="stable")
    return flat[order], owner[order]


def batch_shingles(texts: list[str]) -> tuple[U64Array, npt.NDArray[np.intp]]:
    """64-bit hashes of the word 3-grams of every text (lower-cased), concatenated in text order,
    and offsets: text i owns ``flat[offsets[i]:offsets[i + 1]]`` (may repeat a shingle)."""
    flats: list[U64Array] = []
    counts = np.zeros(len(texts), dtype=np.intp)
    for first in range(0, len(texts), CHUNK_TEXTS):
        flat, owner = _chunk_shingles(texts[first:first + CHUNK_TEXTS])
        flats.append(flat)
        counts[first:first + CHUNK_TEXTS] = np.bincount(owner, minlength=len(texts[first:first + CHUNK_TEXTS]))
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.intp)
    flat_all = np.concatenate(flats) if flats else np.empty(0, dtype=np.uint64)
    return flat_all, offsets


def shingle_hashes(text: str) -> U64Array:
    """The shingle hashes of one text (see batch_shingles)."""
    flat, _ = batch_shingles([text])
    return flat


def signatures(flat: U64Array, offsets: npt.NDArray[np.intp]) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.bool_]]:
    """A MinHash signature row per text (NUM_PERM values) and which texts have any shingles."""
    size = len(offsets) - 1
    has_words = offsets[1:] > offsets[:-1]
    sig = np.full((size, NUM_PERM), np.iinfo(np.uint32).max, dtype=np.uint32)
    rows = np.flatnonzero(has_words)
    if len(rows) == 0:
        return sig, has_words
    starts = offsets[:-1][rows]
    for j in range(NUM_PERM):
        hashed = (flat * _A[j] + _B[j]) >> _U64(32)  # multiply-shift: a universal 64 -> 32 bit hash
        sig[rows, j] = np.minimum.reduceat(hashed, starts).astype(np.uint32)
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
    flat, offsets = batch_shingles(texts)
    sig, has_words = signatures(flat, offsets)
    unique: dict[int, U64Array] = {}

    def shingle_set(i: int) -> U64Array:
        if i not in unique:
            unique[i] = np.unique(flat[offsets[i]:offsets[i + 1]])
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
