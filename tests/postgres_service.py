"""A real PostgreSQL for tests: started by scripts/services/postgres.sh, or the one CHANCERY_TEST_POSTGRES_URL names.

``PostgresService`` starts a throwaway cluster in a folder of its own under /tmp (reachable by the
unprivileged account the server runs as when the tests run as root) and stops it; ``fresh_schema``
gives one test a schema of its own on it, as a URL whose connections use it (``options=-csearch_path``),
so tests that share the server never see each other's tables.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "services" / "postgres.sh"
URL_VARIABLE = "CHANCERY_TEST_POSTGRES_URL"


class PostgresService:
    """The server of a test session: an external one (``CHANCERY_TEST_POSTGRES_URL``) or one started here."""

    def __init__(self) -> None:
        self.folder: Path | None = None
        self.url = os.environ.get(URL_VARIABLE, "")

    def start(self) -> str:
        if self.url:
            return self.url
        self.folder = Path(tempfile.mkdtemp(prefix="chancery-pg-", dir="/tmp"))
        done = subprocess.run(["bash", str(SCRIPT), "start", str(self.folder)], capture_output=True, text=True,
                              timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{SCRIPT} start failed: {done.stderr.strip() or done.stdout.strip()}")
        self.url = done.stdout.strip().splitlines()[-1]
        return self.url

    def stop(self) -> None:
        if self.folder is None:
            return
        subprocess.run(["bash", str(SCRIPT), "stop", str(self.folder)], capture_output=True, timeout=120)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None


@contextmanager
def fresh_schema(url: str) -> Iterator[str]:
    """A new, empty schema on the server at ``url``; yields the URL that uses it; dropped after."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {schema}")
    joiner = "&" if "?" in url else "?"
    try:
        yield f"{url}{joiner}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(url, autocommit=True) as db:
            db.execute(f"DROP SCHEMA {schema} CASCADE")
