"""Kibana's Saved Objects API: import (multipart, ``overwrite=true``) and export, in a space, with auth.

Every failure is a named exception carrying what Kibana said and what to do about it:
``KibanaNotConfigured`` (no KIBANA_URL), ``KibanaUnreachable`` (no answer, or "not ready"),
``KibanaAuthFailed`` (401/403) and ``KibanaRejected`` (any other refusal). An import that Kibana
accepts reports one ``ObjectResult`` per object sent: created, overwritten, or failed with Kibana's
reason (``missing_references``, ``conflict``, ``unsupported_type``, ``unknown`` ...).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import requests

from pipeline.config import KibanaSettings
from pipeline.kibana.links import space_url
from pipeline.kibana.objects import SavedObject, to_ndjson

# A whole import of a dozen objects takes Kibana well under a second; 30 s covers a busy or
# just-started Kibana without hanging an init container for ever.
TIMEOUT_SECONDS = 30.0
# Kibana requires this header on every write (CSRF protection); its value is not checked.
XSRF_HEADER = {"kbn-xsrf": "chancery"}
NOT_READY = {502, 503, 504}  # a proxy or Kibana itself while it starts or migrates


class KibanaError(Exception):
    """A named Kibana failure; the message says what happened and what to do."""


class KibanaNotConfigured(KibanaError):
    pass


class KibanaUnreachable(KibanaError):
    pass


class KibanaAuthFailed(KibanaError):
    pass


class KibanaRejected(KibanaError):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class ImportOutcome(StrEnum):
    CREATED = "created"
    OVERWRITTEN = "overwritten"
    FAILED = "failed"


@dataclass(frozen=True)
class ObjectResult:
    type: str
    id: str
    title: str
    outcome: ImportOutcome
    reason: str = ""


@dataclass(frozen=True)
class ImportReport:
    results: tuple[ObjectResult, ...]

    @property
    def failed(self) -> list[ObjectResult]:
        return [r for r in self.results if r.outcome is ImportOutcome.FAILED]

    def counts(self) -> dict[str, int]:
        counts = {outcome.value: 0 for outcome in ImportOutcome}
        for result in self.results:
            counts[result.outcome.value] += 1
        return counts


class KibanaClient:
    def __init__(self, settings: KibanaSettings, timeout: float = TIMEOUT_SECONDS) -> None:
        if not settings.url:
            raise KibanaNotConfigured(
                "no Kibana configured: set KIBANA_URL (and KIBANA_USERNAME/KIBANA_PASSWORD or KIBANA_API_KEY)"
            )
        self.settings = settings
        self.timeout = timeout
        self.session = requests.Session()
        if settings.api_key:
            self.session.headers["Authorization"] = f"ApiKey {settings.api_key}"
        elif settings.username:
            self.session.auth = (settings.username, settings.password or "")
        self.base = space_url(settings.url, settings.space)
        self.where = f"Kibana at {self.base}"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> KibanaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests -----------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = self.base + path
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.exceptions.Timeout as exc:
            raise KibanaUnreachable(f"{self.where} did not answer within {self.timeout:.0f} s") from exc
        except requests.exceptions.ConnectionError as exc:
            raise KibanaUnreachable(f"{self.where} is unreachable: {_root_cause(exc)}") from exc
        if response.status_code >= 400:
            raise self._refusal(response)
        return response

    def _refusal(self, response: requests.Response) -> KibanaError:
        status = response.status_code
        said = _kibana_message(response)
        if status in NOT_READY:
            return KibanaUnreachable(f"{self.where} is not ready ({status}): {said}")
        if status == 401:
            how = "KIBANA_API_KEY" if self.settings.api_key else "KIBANA_USERNAME/KIBANA_PASSWORD"
            if not (self.settings.api_key or self.settings.username):
                how = "KIBANA_USERNAME/KIBANA_PASSWORD or KIBANA_API_KEY (none is set)"
            return KibanaAuthFailed(f"{self.where} refused the credentials (401 Unauthorized): {said}; check {how}")
        if status == 403:
            return KibanaAuthFailed(
                f"{self.where}: the user may not manage saved objects here (403 Forbidden): {said}; "
                "it needs the Saved Objects Management (or Dashboard, Discover and Data View) privileges"
            )
        if status == 404 and self.settings.space:
            return KibanaRejected(f"{self.where}: not found (404): {said}; does the space "
                                  f"{self.settings.space!r} exist?", status)
        return KibanaRejected(f"{self.where} refused the request ({status} {response.reason}): {said}", status)

    # -- status -------------------------------------------------------------------------------

    def status(self) -> str:
        """Kibana's overall status level ("available", "degraded" ...)."""
        body = _json(self._request("GET", "/api/status"))
        overall = ((body.get("status") or {}).get("overall") or {})
        return str(overall.get("level") or overall.get("state") or "unknown")

    def wait_until_available(self, seconds: float, poll: float = 2.0,
                             progress: Callable[[str], None] | None = None) -> str:
        """Poll /api/status until Kibana answers "available", for at most ``seconds``.

        Credentials that Kibana refuses end the wait at once: waiting cannot fix them.
        """
        deadline = time.monotonic() + seconds
        while True:
            try:
                level = self.status()
                if level == "available":
                    return level
                reason = f"status {level}"
            except KibanaUnreachable as exc:
                reason = str(exc)
            if time.monotonic() + poll > deadline:
                raise KibanaUnreachable(f"{self.where} was not available after {seconds:.0f} s: {reason}")
            if progress:
                progress(reason)
            time.sleep(poll)

    # -- import and export --------------------------------------------------------------------

    def import_objects(self, objects: Sequence[SavedObject]) -> ImportReport:
        """Import with ``overwrite=true``: idempotent, a second run overwrites the same ids."""
        payload = to_ndjson(objects).encode("utf-8")
        response = self._request(
            "POST", "/api/saved_objects/_import", params={"overwrite": "true"}, headers=XSRF_HEADER,
            files={"file": ("chancery-saved-objects.ndjson", payload, "application/ndjson")},
        )
        return import_report(objects, _json(response))

    def export_objects(self, keys: Sequence[tuple[str, str]]) -> str:
        """The NDJSON of the named objects as Kibana holds them now (no export-details line)."""
        response = self._request(
            "POST", "/api/saved_objects/_export", headers={**XSRF_HEADER, "Content-Type": "application/json"},
            data=json.dumps({"objects": [{"type": t, "id": i} for t, i in keys],
                             "includeReferencesDeep": False, "excludeExportDetails": True}),
        )
        return response.text


def import_report(sent: Sequence[SavedObject], body: Mapping[str, Any]) -> ImportReport:
    """One result per object sent, from Kibana's ``successResults`` and ``errors``."""
    if "success" not in body:
        raise KibanaRejected(f"Kibana's import answer is not an import result: {json.dumps(body)[:300]}", 200)
    done = {(r.get("type"), r.get("id")): r for r in body.get("successResults") or ()}
    errors: dict[tuple[Any, Any], list[Mapping[str, Any]]] = {}
    for error in body.get("errors") or ():
        errors.setdefault((error.get("type"), error.get("id")), []).append(error)
    results = []
    for obj in sent:
        key = (obj.type, obj.id)
        if key in errors:
            reason = "; ".join(describe_import_error(e.get("error") or {}) for e in errors[key])
            results.append(ObjectResult(obj.type, obj.id, obj.title, ImportOutcome.FAILED, reason))
        elif key in done:
            outcome = ImportOutcome.OVERWRITTEN if done[key].get("overwrite") else ImportOutcome.CREATED
            results.append(ObjectResult(obj.type, obj.id, obj.title, outcome))
        else:
            results.append(ObjectResult(obj.type, obj.id, obj.title, ImportOutcome.FAILED,
                                        "Kibana reported neither success nor an error for it"))
    return ImportReport(tuple(results))


def describe_import_error(error: Mapping[str, Any]) -> str:
    kind = str(error.get("type") or "unknown")
    if kind == "missing_references":
        refs = ", ".join(f"{r.get('type')} {r.get('id')}" for r in error.get("references") or ())
        return f"missing_references: {refs or 'unnamed'} (not in Kibana and not in the file)"
    if kind == "conflict":
        target = f" with {error['destinationId']}" if error.get("destinationId") else ""
        return f"conflict{target}: an object with this id or origin exists and was not overwritten"
    if kind == "ambiguous_conflict":
        found = ", ".join(str(d.get("id")) for d in error.get("destinations") or ())
        return f"ambiguous_conflict: several objects share its origin ({found})"
    if kind == "unsupported_type":
        return "unsupported_type: this Kibana does not know the type (too old, or the plugin is disabled)"
    message = error.get("message") or error.get("error") or ""
    status = f" ({error['statusCode']})" if error.get("statusCode") else ""
    return f"{kind}{status}: {message}".rstrip(": ")


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise KibanaRejected(f"Kibana answered {response.status_code} with something that is not JSON: "
                             f"{response.text[:200]!r}", response.status_code) from exc
    if not isinstance(body, dict):
        raise KibanaRejected(f"Kibana answered with a JSON {type(body).__name__}, not an object", response.status_code)
    return body


def _kibana_message(response: requests.Response) -> str:
    """Kibana's error body is {"statusCode", "error", "message"}; anything else is quoted, shortened."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason
    if not isinstance(body, dict):
        return json.dumps(body)[:300]
    message = str(body.get("message") or body.get("error") or json.dumps(body)[:300])
    # An export naming objects Kibana lacks: {"attributes": {"objects": [{"type", "id", "error"}]}}
    missing = ((body.get("attributes") or {}).get("objects") or []) if isinstance(body.get("attributes"), dict) else []
    if missing:
        message += " (" + ", ".join(f"{o.get('type')} {o.get('id')}" for o in missing if isinstance(o, dict)) + ")"
    return message


def _root_cause(exc: BaseException) -> str:
    while exc.__cause__ is not None or exc.__context__ is not None:
        nxt = exc.__cause__ or exc.__context__
        if nxt is None:
            break
        exc = nxt
    return str(exc) or type(exc).__name__
