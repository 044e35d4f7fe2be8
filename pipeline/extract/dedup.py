"""Near-duplicate story ids, assigned as articles stream: MinHash signatures in a bounded LSH window.

Wire copy is republished with small rewrites (a new dateline, a changed word, a dropped
closing paragraph). Every article gets a ``story_id``: the id of the earliest-known article of
its near-duplicate group. Nothing is dropped, and the batch is never held in memory:

- articles are taken ``STORY_CHUNK`` at a time; inside a chunk a group's representative is its
  earliest article (by published_at, then fetched_at, then input order);
- the window (``StoryIndex``) remembers the signatures and stories of the last ``window`` articles,
  never their text. An article that matches a remembered one takes that story's id, because that id
  has already been handed out and is never changed;
- candidates come only from LSH band collisions, so the cost grows with the number of articles,
  not with its square; a candidate is confirmed when the two signatures agree on at least
  ``threshold`` of their positions (the MinHash estimate of their Jaccard similarity).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from itertools import islice

import numpy as np
import numpy.typing as npt

from pipeline.config import ExtractSettings
from pipeline.models import Article

# The signature is all the window keeps of an article, so it both proposes candidates (LSH bands)
# and confirms them (the share of agreeing positions). 128 permutations put the estimate's standard
# error at about 0.04 near the 0.6 threshold, where rewrites score 0.7-0.8 (docs/extraction.md).
NUM_PERM = 128
# Word 3-grams: a changed word breaks only three shingles, so light rewrites stay similar,
# while unrelated texts on the same topic share almost none.
SHINGLE_WORDS = 3
# Buckets in a chunk larger than this are checked against their first member only (boilerplate bodies).
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


# Candidates are confirmed on their whole signatures, so a false candidate costs one comparison of
# two rows while a missed pair splits a story: misses weigh more when the layout is chosen.
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


# ---------------------------------------------------------------- streaming story ids

# Articles are grouped this many at a time as they stream. Inside a chunk a group's representative is
# its earliest article whatever the arrival order (a rewrite that arrives just before its original gets
# the original's id); the chunk is all the text that is held: 256 extracted articles, about 12 MB.
STORY_CHUNK = 256

Age = tuple[bool, datetime, bool, datetime, int]


@dataclass(frozen=True, slots=True)
class Story:
    """A story as the window remembers it: its id (its representative's id) and that article's age."""

    id: str
    age: Age


@dataclass(frozen=True, slots=True)
class _Segment:
    """One chunk's articles as the window keeps them: no text, only what later matches need."""

    signatures: npt.NDArray[np.uint32]  # (rows, NUM_PERM)
    keys: U64Array  # sorted, unique salted band keys of all rows
    key_rows: npt.NDArray[np.int32]  # the first row holding each key
    stories: list[Story]  # each row's story (shared by rows of one story)


def band_keys(sig: npt.NDArray[np.uint32], bands: int, rows: int) -> U64Array:
    """(texts, bands) 64-bit keys: two texts share a key when their signatures agree on a whole band.

    Each band's key is salted with the band number, so keys of different bands never meet.
    """
    keys = np.empty((len(sig), bands), dtype=np.uint64)
    for band in range(bands):
        key = np.full(len(sig), band + 1, dtype=np.uint64)
        for column in range(band * rows, (band + 1) * rows):
            key = _mix(key * _MIX[0] + sig[:, column].astype(np.uint64))
        keys[:, band] = key
    return keys


def agreement(a: npt.NDArray[np.uint32], b: npt.NDArray[np.uint32]) -> npt.NDArray[np.float64]:
    """Row by row, the share of signature positions on which a and b agree: the MinHash estimate of Jaccard."""
    result: npt.NDArray[np.float64] = (a == b).mean(axis=1)
    return result


def _age(article: Article, order: int) -> Age:
    return (article.published_at is None, article.published_at or _EARLY,
            article.fetched_at is None, article.fetched_at or _EARLY, order)


class StoryIndex:
    """Assigns story ids chunk by chunk, remembering the signatures of the last ``window`` articles.

    What is kept per article is its MinHash signature, its band keys and its story (id and the
    representative's age): about 0.8 KB, never the text. Story ids already handed out are never
    changed, so a later article that joins a remembered story takes that story's id.
    """

    def __init__(self, threshold: float, window: int) -> None:
        self.threshold = threshold
        self.window = window
        self.bands, self.rows = band_layout(round(threshold, 3))
        self._segments: deque[_Segment] = deque()
        self._remembered = 0
        self._seen = 0  # input order across chunks: the last tie-breaker of age

    @property
    def remembered(self) -> int:
        """How many articles the window holds now."""
        return self._remembered

    def assign(self, chunk: Sequence[Article]) -> list[Article]:
        """The same articles in the same order, each with its story id; then remembered in the window."""
        if not chunk:
            return []
        flat, offsets = batch_shingles([a.body for a in chunk])
        sig, has_words = signatures(flat, offsets)
        rows_ok = np.flatnonzero(has_words)  # a text without words matches nothing and stands alone
        keys = band_keys(sig[rows_ok], self.bands, self.rows)
        groups = self._group_chunk(sig, rows_ok, keys, len(chunk))
        known = self._known_stories(sig, rows_ok, keys)
        ages = [_age(article, self._seen + i) for i, article in enumerate(chunk)]
        self._seen += len(chunk)
        members: dict[int, list[int]] = {}
        for i in range(len(chunk)):
            members.setdefault(groups.find(i), []).append(i)
        story_of: dict[int, Story] = {}
        for group in members.values():
            remembered = [story for i in group for story in known.get(i, ())]
            if remembered:  # already handed out: the group joins the earliest remembered story
                story = min(remembered, key=lambda s: s.age)
            else:
                first = min(group, key=lambda i: ages[i])
                story = Story(chunk[first].id, ages[first])
            story_of.update((i, story) for i in group)
        stories = [story_of[i] for i in range(len(chunk))]
        self._remember(sig[rows_ok], keys, [stories[i] for i in rows_ok])
        return [dataclasses.replace(a, story_id=stories[i].id) for i, a in enumerate(chunk)]

    def _group_chunk(self, sig: npt.NDArray[np.uint32], rows_ok: npt.NDArray[np.intp], keys: U64Array,
                     size: int) -> _UnionFind:
        """Near-duplicates inside the chunk, joined through band collisions confirmed by agreement."""
        groups = _UnionFind(size)
        flat_keys = keys.ravel()
        owners = np.repeat(rows_ok, self.bands)
        order = np.argsort(flat_keys, kind="stable")
        sorted_keys, sorted_owners = flat_keys[order], owners[order]
        run_starts = np.flatnonzero(np.concatenate(([True], sorted_keys[1:] != sorted_keys[:-1])))
        run_ends = np.concatenate((run_starts[1:], [len(sorted_keys)]))
        shared = run_ends - run_starts > 1  # a band bucket with two or more members
        pairs: set[tuple[int, int]] = set()
        for start, end in zip(run_starts[shared], run_ends[shared], strict=True):
            bucket = [int(i) for i in np.unique(sorted_owners[start:end])]
            if len(bucket) * (len(bucket) - 1) // 2 <= MAX_BUCKET_PAIRS:
                pairs.update((i, j) for k, i in enumerate(bucket) for j in bucket[k + 1:])
            else:
                pairs.update((bucket[0], j) for j in bucket[1:])
        if pairs:
            left, right = (np.array(side, dtype=np.intp) for side in zip(*sorted(pairs), strict=True))
            confirmed = agreement(sig[left], sig[right]) >= self.threshold
            for i, j in zip(left[confirmed], right[confirmed], strict=True):
                groups.union(int(i), int(j))
        return groups

    def _known_stories(self, sig: npt.NDArray[np.uint32], rows_ok: npt.NDArray[np.intp],
                       keys: U64Array) -> dict[int, set[Story]]:
        """For each chunk row, the remembered stories it is a near-duplicate of."""
        known: dict[int, set[Story]] = {}
        if len(rows_ok) == 0:
            return known
        queries = keys.ravel()
        owners = np.repeat(rows_ok, self.bands)
        for segment in self._segments:
            at = np.minimum(np.searchsorted(segment.keys, queries), len(segment.keys) - 1)
            hit = segment.keys[at] == queries
            if not hit.any():
                continue
            pairs = np.unique(np.stack((owners[hit], segment.key_rows[at[hit]]), axis=1), axis=0)
            confirmed = agreement(sig[pairs[:, 0]], segment.signatures[pairs[:, 1]]) >= self.threshold
            for row, remembered_row in pairs[confirmed]:
                known.setdefault(int(row), set()).add(segment.stories[int(remembered_row)])
        return known

    def _remember(self, sig: npt.NDArray[np.uint32], keys: U64Array, stories: list[Story]) -> None:
        if self.window <= 0 or len(stories) == 0:
            return
        flat_keys = keys.ravel()
        unique, first = np.unique(flat_keys, return_index=True)  # a bucket is kept by its first row
        self._segments.append(_Segment(sig, unique, (first // self.bands).astype(np.int32), stories))
        self._remembered += len(stories)
        while self._remembered - len(self._segments[0].stories) >= self.window:
            self._remembered -= len(self._segments.popleft().stories)


def stream_story_ids(articles: Iterable[Article], threshold: float,
                     window: int = ExtractSettings.story_window) -> Iterator[Article]:
    """Every article with its story id, as they stream; holds at most STORY_CHUNK articles at once."""
    index = StoryIndex(threshold, window)
    iterator = iter(articles)
    while chunk := list(islice(iterator, STORY_CHUNK)):
        yield from index.assign(chunk)


def assign_story_ids(articles: Iterable[Article], threshold: float,
                     window: int = ExtractSettings.story_window) -> list[Article]:
    """The same articles in the same order, each with the id of its group's earliest-known article."""
    return list(stream_story_ids(articles, threshold, window))
