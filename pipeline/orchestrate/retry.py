"""The fetch tasks' RetryPolicy: fail fast when a source is gone, wait longer when rate limited.

Airflow is imported inside the function (only DAG files call it), so this module
stays importable without Airflow. Exceptions are named by dotted path, resolved on
the worker.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

RATE_LIMIT_WAIT = timedelta(minutes=5)  # a 429 means "later": longer than the default backoff's first steps


def fetch_retry_policy() -> Any:
    from airflow.sdk import ExceptionRetryPolicy, RetryAction, RetryRule

    return ExceptionRetryPolicy(
        rules=[
            RetryRule(exception="pipeline.orchestrate.errors.SourceGone", action=RetryAction.FAIL,
                      reason="404/410 on the source itself: retrying will not help"),
            RetryRule(exception="pipeline.orchestrate.errors.RateLimited", action=RetryAction.RETRY,
                      retry_delay=RATE_LIMIT_WAIT, reason="429: waiting before the next try"),
        ],
        default=RetryAction.DEFAULT,  # everything else: the task's exponential backoff
    )
