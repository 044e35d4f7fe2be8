"""What every fuzz test shares: example counts, the fixed-seed profile, the per-example bounds, mutations.

Each example must end in a named result within ``EXAMPLE_SECONDS`` and allocate less than its
target's tracemalloc limit. An exception escaping the parser fails the test, and hypothesis
shrinks the input to a small reproducer.
"""

from __future__ import annotations

import signal
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from types import FrameType

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Examples per target. With these counts the whole fuzz suite takes about 25 s on the project's
# 2-core machine (tracemalloc on, which slows Python about twofold); keep it under a minute.
HTML_EXAMPLES = 300
FEED_EXAMPLES = 300
SITEMAP_EXAMPLES = 500
WARC_EXAMPLES = 300

# A parser may take this long on one example before it counts as hung. Inputs stay under about
# 300 KB, where every parser answers in milliseconds; 5 s leaves room for a loaded machine.
EXAMPLE_SECONDS = 5.0

# Fixed examples on every run (derandomize), no example database written into the tree.
FUZZ = settings(
    deadline=timedelta(seconds=EXAMPLE_SECONDS),
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


class Overtime(BaseException):
    """Raised by the alarm inside a hung parser. A BaseException, so no parser's `except` can swallow it."""


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise Overtime


@contextmanager
def bounded(memory_limit: int, seconds: float = EXAMPLE_SECONDS) -> Iterator[None]:
    """Fail the example if it runs past ``seconds`` (interrupted by SIGALRM) or allocates past the limit.

    hypothesis' deadline reports a slow example only once it has returned; the alarm also ends one that
    never would.
    """
    previous = signal.signal(signal.SIGALRM, _alarm)
    tracemalloc.start()
    signal.setitimer(signal.ITIMER_REAL, 2 * seconds)  # the deadline reports earlier; this ends a hang
    try:
        yield
    except Overtime:
        raise AssertionError(f"no result within {2 * seconds:.0f} s: the parser hangs on this input") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < memory_limit, f"allocated {peak / 1e6:.1f} MB at peak, limit {memory_limit / 1e6:.0f} MB"


MB = 1024 * 1024


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes], tokens: list[bytes], max_steps: int = 8) -> bytes:
    """A seed document after a few random edits: bytes flipped, tokens of its format inserted,
    ranges deleted, duplicated or moved, or the whole cut short."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, max_steps))):
        size = len(data)
        at = draw(st.integers(0, max(size, 1) - 1)) if size else 0
        op = draw(st.sampled_from(["flip", "token", "bytes", "delete", "duplicate", "truncate", "repeat"]))
        if op == "flip" and size:
            data[at] = draw(st.integers(0, 255))
        elif op == "token":
            data[at:at] = draw(st.sampled_from(tokens))
        elif op == "bytes":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 256))]
        elif op == "duplicate":
            length = draw(st.integers(1, 512))
            data[at:at] = data[at:at + length]
        elif op == "truncate":
            del data[at:]
        elif op == "repeat":  # the same token many times: deep nesting, long runs
            data[at:at] = draw(st.sampled_from(tokens)) * draw(st.integers(50, 3000))
    return bytes(data)


# Text from every corner of Unicode, including surrogates' neighbours, controls and NUL.
any_text = st.text(st.characters(codec=None, exclude_categories=("Cs",)), max_size=80)
