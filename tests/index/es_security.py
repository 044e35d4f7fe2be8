"""A role and a user on the real engine, for the least-privilege tests, removed afterwards.

The security API (`PUT _security/role`, `PUT _security/user`) is tried first: it is what a
docker or cloud cluster offers. The bare Maven distribution that `chancery engine start` runs
cannot create the `.security` index (its mapping needs `pattern_capture`, from the missing
analysis-common module), so there the same role body goes to the node's file realm instead:
`config/roles.yml`, `config/users` (a PBKDF2 hash in Elasticsearch's format) and
`config/users_roles`, which the node reloads within seconds. Only our own lines are added and
removed, under a lock, so the rest of those files is never touched.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import secrets
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elasticsearch import ApiError, AuthenticationException, BadRequestError, Elasticsearch

RELOAD_SECONDS = 30.0  # the node checks the file realm's files every 5 s


@dataclass(frozen=True)
class TestUser:
    username: str
    password: str
    how: str  # "security api" or "file realm"


def _pbkdf2_hash(password: str) -> str:
    """`{PBKDF2}<iterations>$<salt>$<key>`: PBKDF2-HMAC-SHA512, 32-byte salt and key, base64."""
    salt = secrets.token_bytes(32)
    key = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, 10_000, dklen=32)
    return f"{{PBKDF2}}10000${base64.b64encode(salt).decode()}${base64.b64encode(key).decode()}"


@contextlib.contextmanager
def role_and_user(
    admin: Elasticsearch, url: str, role: str, body: Mapping[str, Any], config_dir: Path | None
) -> Iterator[TestUser]:
    username, password = f"{role}_user", secrets.token_urlsafe(18)
    try:
        admin.security.put_role(name=role, **body)
        admin.security.put_user(username=username, password=password, roles=[role])
    except BadRequestError as exc:
        if "pattern_capture" not in str(exc) or config_dir is None:
            raise
        with _file_realm(config_dir, role, body, username, password):
            _wait_until_authorised(url, username, password, role)
            yield TestUser(username, password, "file realm")
        return
    try:
        yield TestUser(username, password, "security api")
    finally:
        admin.security.delete_user(username=username)
        admin.security.delete_role(name=role)


@contextlib.contextmanager
def _file_realm(config_dir: Path, role: str, body: Mapping[str, Any], username: str, password: str) -> Iterator[None]:
    marker = f"# chancery-test {role}"
    lines = {
        "roles.yml": f"{role}: {json.dumps(body)}  {marker}\n",  # JSON is YAML: one line, one role
        "users": f"{username}:{_pbkdf2_hash(password)}\n",
        "users_roles": f"{role}:{username}\n",
    }
    with _locked(config_dir):
        for name, line in lines.items():
            with (config_dir / name).open("a", encoding="utf-8") as out:  # in place: owner and mode stay
                out.write(line)
    try:
        yield
    finally:
        with _locked(config_dir):
            for name, line in lines.items():
                path = config_dir / name
                kept = [kept for kept in path.read_text(encoding="utf-8").splitlines(keepends=True) if kept != line]
                path.write_text("".join(kept), encoding="utf-8")


@contextlib.contextmanager
def _locked(config_dir: Path) -> Iterator[None]:
    with open(config_dir.parent / ".chancery-test-realm.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _wait_until_authorised(url: str, username: str, password: str, role: str) -> None:
    user = Elasticsearch(url, basic_auth=(username, password))
    deadline = time.monotonic() + RELOAD_SECONDS
    try:
        while True:
            try:
                if role in user.security.authenticate().body.get("roles", []):
                    return
            except (AuthenticationException, ApiError):
                pass  # not reloaded yet
            if time.monotonic() > deadline:
                raise TimeoutError(f"the node did not load user {username} from its file realm in {RELOAD_SECONDS} s")
            time.sleep(0.5)
    finally:
        user.close()
