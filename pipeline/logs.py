"""Structured logging: one line per event, key=value pairs, parseable by any log shipper.

URLs are masked on the way out (``pipeline.urls.mask_urls``: userinfo passwords and secret
query parameters become ``***``): ``log_event`` masks its fields, so the records Airflow's own
handlers receive are clean too, and the formatter masks the whole line, which covers messages,
tracebacks and loggers that did not go through ``log_event``.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from pipeline.urls import mask_urls, mask_values


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        fields.update(getattr(record, "fields", {}))
        if record.exc_info:
            fields["exc"] = self.formatException(record.exc_info)
        return mask_urls(" ".join(f"{k}={_quote(v)}" for k, v in fields.items()))


def _quote(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return json.dumps(text) if (" " in text or "=" in text or not text) else text


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time: pytest and rich swap it, and may close the old one."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def setup_logging(level: str = "INFO") -> None:
    handler = StderrHandler()
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger("chancery")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(f"chancery.{name}")


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one event with structured fields, e.g. log_event(log, "skipped", url=u, outcome="empty")."""
    logger.log(level, mask_urls(event), extra={"fields": mask_values(fields)})
