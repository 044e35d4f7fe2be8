"""Where captures go (pipeline/captures.py): the home's folder by default, a share (file://), or S3.

Fetch writes the WARC locally, then publishes it once it is closed; the capture is named by its
URI in the ledger and the seen-store, and read back from there by any home. The S3 tests run
against a real S3-speaking server process (moto's, tests/s3_service.py).
"""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import pytest
from fetch_newsroom import Newsroom, article
from s3_service import S3Service

from pipeline.captures import CaptureStore, CaptureUploadFailed
from pipeline.config import Settings
from pipeline.fetch import FetchRun
from pipeline.models import RawPage
from pipeline.orchestrate.ledger import CaptureStatus
from pipeline.orchestrate.steps import CaptureVerdict, fetch_capture, process_capture
from pipeline.sources import Source, SourceKind
from pipeline.state import open_state


def _fetch(settings: Settings, newsroom: Newsroom, run_id: str) -> FetchRun:
    urls = tuple(newsroom.page(f"/press/{run_id}-{n}", article(f"Envoys meet, round {n}",
                                                                f"Talks went on for a {n}th day."))
                 for n in range(3))
    source = Source(id="mfa", name="Ministry", kind=SourceKind.URLS, urls=urls)
    ledger = open_state(settings).ledger()
    return fetch_capture(settings, ledger, [source], None, run_id, settings.captures_dir / run_id, "test-worker",
                         show_progress=False)


def _pages(settings: Settings, uri: str) -> list[RawPage]:
    return [p for p in CaptureStore.of(settings).read(uri, settings.fetch.max_bytes) if isinstance(p, RawPage)]


def test_without_a_captures_url_the_capture_is_the_local_file(newsroom: Newsroom, fetch_settings: Settings) -> None:
    fetched = _fetch(fetch_settings, newsroom, "local")
    (path,) = fetched.warc_paths
    assert fetched.capture.uri == str(path.resolve()) and path.is_file()  # named as captures always were
    (capture,) = open_state(fetch_settings).ledger().list()
    assert capture.path == str(path.resolve()) and capture.status is CaptureStatus.WRITING


def test_a_share_gets_the_capture_and_another_home_reads_it(
    newsroom: Newsroom, fetch_settings: Settings, tmp_path: Path
) -> None:
    share = tmp_path / "share"
    writer = dataclasses.replace(fetch_settings, captures_url=f"file://{share}")
    fetched = _fetch(writer, newsroom, "shared")
    uri = fetched.capture.uri
    assert uri == f"file://{share}/shared/shared.warc.gz"
    assert (share / "shared" / "shared.warc.gz").is_file() and not fetched.warc_paths[0].exists()
    (capture,) = open_state(writer).ledger().list()
    assert capture.path == uri
    with open_state(writer).seen() as seen:
        assert seen.pending_count(uri) == 3  # staged against the URI the drain will confirm

    reader = dataclasses.replace(writer, home=tmp_path / "other-home")
    pages = _pages(reader, uri)
    assert [p.capture for p in pages] == list(fetched.capture.records)
    assert {p.provenance.warc_file for p in pages} == {uri}


def test_s3_publish_and_ranged_read(
    newsroom: Newsroom, fetch_settings: Settings, s3_service: S3Service, s3_captures_url: str, tmp_path: Path
) -> None:
    writer = dataclasses.replace(fetch_settings, captures_url=s3_captures_url)
    fetched = _fetch(writer, newsroom, "to-s3")
    bucket = s3_captures_url.removeprefix("s3://").split("/")[0]
    assert fetched.capture.uri == f"{s3_captures_url}/to-s3/to-s3.warc.gz"
    assert s3_service.keys(bucket) == ["captures/to-s3/to-s3.warc.gz"]
    assert not fetched.warc_paths[0].exists()  # published: the store holds the only copy

    reader = dataclasses.replace(writer, home=tmp_path / "other-home")
    assert CaptureStore.of(reader).readable(fetched.capture.uri)
    pages = _pages(reader, fetched.capture.uri)
    assert [p.capture for p in pages] == list(fetched.capture.records) and len(pages) == 3


def test_a_failed_upload_keeps_the_capture_here_until_the_store_takes_it(
    newsroom: Newsroom, fetch_settings: Settings, s3_service: S3Service, s3_captures_url: str
) -> None:
    missing = f"s3://not-made-yet-{Path(s3_captures_url).parent.name}/captures"  # publishing never makes a bucket
    writer = dataclasses.replace(fetch_settings, captures_url=missing)
    with pytest.raises(CaptureUploadFailed) as failed:
        _fetch(writer, newsroom, "kept")
    uri = failed.value.uri
    assert uri == f"{missing}/kept/kept.warc.gz" and failed.value.fetch_report is not None
    local = Path(failed.value.local)
    assert local.is_file()
    (capture,) = open_state(writer).ledger().list()  # recorded, and held by its writer: no other host claims it
    assert (capture.path, capture.status) == (uri, CaptureStatus.WRITING)
    again = pickle.loads(pickle.dumps(failed.value))
    assert (again.uri, again.local, again.reason) == (uri, failed.value.local, failed.value.reason)

    # Processing it here while the store still refuses: pending, and still claimed here, where its only copy is.
    ledger = open_state(writer).ledger()
    result = process_capture(writer, ledger, ledger.claim_written(uri, "drain"), "drain", es=None)
    assert result.verdict is CaptureVerdict.LEFT_PENDING and "CaptureUploadFailed" in result.error
    (capture,) = ledger.list()
    assert (capture.status, capture.claimed_by) == (CaptureStatus.CLAIMED, "drain") and local.is_file()

    s3_service.bucket(missing.removeprefix("s3://").split("/")[0])
    store = CaptureStore.of(writer)
    assert store.staged(uri) == local
    assert store.readable(uri)  # what a drain on this host does first: upload the staged copy
    assert not local.exists() and store.staged(uri) is None
    assert len(_pages(writer, uri)) == 3
