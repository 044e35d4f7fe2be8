"""Captures on S3, for real: fetched by one home, processed and indexed by another; an upload that fails.

Every `chancery` here is its own process; the newsroom is the demo's, served on loopback by this
test; the S3 server is moto's standalone server, a process of its own (tests/s3_service.py: no S3
server can be installed from the registries here). Two homes share no disk: what one fetched
reaches the other only through the S3 bucket and the shared state (PostgreSQL), as two hosts would.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from pathlib import Path

import pytest
from ingest_runs import chancery, cli_env, indexed_urls
from postgres_service import fresh_schema
from s3_service import S3Service

from pipeline.config import Settings
from pipeline.demo.newsroom import serve, write_sources_file
from pipeline.orchestrate.ledger import CaptureStatus
from pipeline.state import open_state
from pipeline.urls import canonicalize

pytestmark = [pytest.mark.engine, pytest.mark.slow]


def _run(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(chancery(*args), env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout)


def _warcs(home: Path) -> list[Path]:
    return sorted(home.rglob("*.warc.gz"))


def test_a_capture_fetched_by_one_home_is_indexed_by_another(
    es_settings: Settings, s3_service: S3Service, postgres_url: str, tmp_path: Path
) -> None:
    bucket = s3_service.bucket()
    captures_url = f"s3://{bucket}/captures"
    with serve() as newsroom, fresh_schema(postgres_url) as state_url:
        sources = write_sources_file(newsroom.base_url, tmp_path / "sources.yaml")
        shared = {"CHANCERY_CAPTURES_URL": captures_url, "CHANCERY_STATE_URL": state_url, **s3_service.environment()}
        host_a = dataclasses.replace(es_settings, home=tmp_path / "host-a")
        host_b = dataclasses.replace(es_settings, home=tmp_path / "host-b")

        fetched = _run("fetch", "--sources", str(sources), "--no-progress", env={**cli_env(host_a), **shared})
        assert fetched.returncode == 0, fetched.stderr[-3000:]
        assert not _warcs(host_a.home)  # published: the bucket holds the only copy
        keys = s3_service.keys(bucket)
        assert len(keys) == 1 and keys[0].startswith("captures/")

        drained = _run("captures", "drain", "--report", str(tmp_path / "drain.json"),
                       env={**cli_env(host_b), **shared})
        assert drained.returncode == 0, drained.stderr[-3000:]
        expected = sorted(canonicalize(u) for u in newsroom.article_urls())
        assert indexed_urls(host_b) == expected  # every article, once
        assert not _warcs(host_b.home)  # read from the bucket, never copied to B's disk

        ledger = open_state(dataclasses.replace(host_b, state_url=state_url)).ledger()
        (capture,) = ledger.list()
        assert capture.path == f"{captures_url}/{keys[0].removeprefix('captures/')}"
        assert capture.status is CaptureStatus.DONE


def test_a_failed_upload_leaves_the_capture_for_the_next_run(es_settings: Settings, tmp_path: Path) -> None:
    store = S3Service(log_path=tmp_path / "s3.log")  # not started yet: nothing answers at its address
    captures_url = "s3://captures-retry/captures"
    env = {**cli_env(es_settings), "CHANCERY_CAPTURES_URL": captures_url, **store.environment()}
    with serve() as newsroom:
        sources = write_sources_file(newsroom.base_url, tmp_path / "sources.yaml")
        first = _run("ingest", "--sources", str(sources), "--report", str(tmp_path / "first.json"), env=env)
        assert first.returncode == 5, first.stderr[-3000:]  # work left pending
        report = json.loads((tmp_path / "first.json").read_text())
        assert report["status"] == "pending" and "upload of capture" in report["error"]
        (uri,) = report["pending_captures"]
        assert uri.startswith(f"{captures_url}/")
        (capture,) = open_state(es_settings).ledger().list()
        assert (capture.path, capture.status) == (uri, CaptureStatus.WRITING)  # recorded, held by a dead writer
        (kept,) = _warcs(es_settings.home)
        assert indexed_urls(es_settings) == []

        with store:
            store.bucket("captures-retry")
            drained = _run("captures", "drain", env=env)
            assert drained.returncode == 0, drained.stderr[-3000:]
            assert store.keys("captures-retry") == [uri.removeprefix("s3://captures-retry/")]
        assert not kept.exists()  # uploaded, then the local copy went
        assert indexed_urls(es_settings) == sorted(canonicalize(u) for u in newsroom.article_urls())
        (capture,) = open_state(es_settings).ledger().list()
        assert capture.status is CaptureStatus.DONE
