"""A real S3-speaking server for tests: moto's standalone server, as a process of its own.

No S3 server can be installed from the registries this project reaches: MinIO's server is on
neither PyPI (``minio`` there is the client SDK) nor Debian, and as a Go module it is under the
AGPL; Debian's ``radosgw`` needs a running Ceph cluster (monitors, OSDs). So moto's server
(``moto[server]``, its ``moto_server`` command) is the stand-in: a separate process on loopback
that speaks the S3 REST protocol, which s3fs/botocore reach exactly as they reach a real store.

- ``S3Service(address)``: start, stop, start again on the same port (moto keeps its buckets in
  memory, so a restarted server is empty, as a wiped store is); ``bucket()`` makes a bucket;
  ``environment()`` is what a process needs to reach it (botocore's standard variables);
- fixtures, for a conftest to import (``from s3_service import s3_service, s3_captures_url``):
  ``s3_service`` (one server per session) and ``s3_captures_url`` (a bucket of the test's own,
  as ``s3://BUCKET/captures``, with this process's environment pointed at the server).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ACCESS_KEY = "chancery-test"
SECRET_KEY = "chancery-test-secret"
REGION = "us-east-1"


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


class S3Service:
    """moto's S3 server on ``address``:``port`` (a free one unless given), logging to a file of its own."""

    def __init__(self, address: str = "127.0.0.1", port: int | None = None, log_path: Path | None = None) -> None:
        self.address = address
        self.port = port or free_port(address)
        self.url = f"http://{address}:{self.port}"
        self.log_path = log_path or Path(tempfile.mkstemp(prefix="chancery-s3-", suffix=".log")[1])
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> S3Service:
        server = str(Path(sys.executable).with_name("moto_server"))
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen([server, "-H", self.address, "-p", str(self.port)], stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection((self.address, self.port), timeout=1):
                    return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"moto_server exited with {self.proc.returncode}; see {self.log_path}") from None
                if time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not listen on {self.url} in {timeout} s") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.proc = None

    def __enter__(self) -> S3Service:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def environment(self) -> dict[str, str]:
        """botocore's standard variables: these credentials, this endpoint, and no config file or metadata lookup."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": self.url,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def client(self) -> object:
        import boto3

        return boto3.client("s3", endpoint_url=self.url, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY, region_name=REGION)

    def bucket(self, name: str | None = None) -> str:
        name = name or f"chancery-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)  # type: ignore[attr-defined]
        return name

    def keys(self, bucket: str) -> list[str]:
        listed = self.client().list_objects_v2(Bucket=bucket)  # type: ignore[attr-defined]
        return sorted(item["Key"] for item in listed.get("Contents", ()))


def forget_s3_clients() -> None:
    """fsspec keeps one s3fs instance per set of options, bound to the endpoint it first saw: start afresh."""
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture(scope="session")
def s3_service() -> Iterator[S3Service]:
    with S3Service() as service:
        yield service


@pytest.fixture
def s3_captures_url(s3_service: S3Service, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """``s3://BUCKET/captures`` on a bucket of this test's own; this process's environment reaches the server."""
    for name, value in s3_service.environment().items():
        monkeypatch.setenv(name, value)
    forget_s3_clients()
    yield f"s3://{s3_service.bucket()}/captures"
    forget_s3_clients()
