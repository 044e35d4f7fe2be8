"""Polite, hardened fetching into a per-run WARC capture.

``run_fetch`` is the one entry point the CLI, ``chancery ingest`` and the DAGs
call; ``warc.iter_responses`` is the one WARC reader every stage reuses.
"""

from pipeline.fetch.run import FetchRun, run_fetch

__all__ = ["FetchRun", "run_fetch"]
