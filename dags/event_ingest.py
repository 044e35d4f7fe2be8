"""event_ingest: a message names URLs (or sources to poll now); fetch them, then a raw-captures event.

The chancery://incoming asset is watched on Redis pub/sub through the common-messaging
MessageQueueTrigger, and the REST API's asset-event route posts to the same asset
(webhooks). Messages are hints: pub/sub can drop a burst, the nightly run is the
safety net, and ingestion is idempotent.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger
from airflow.sdk import Asset, AssetWatcher, dag, get_current_context, task

from pipeline.config import load_settings
from pipeline.orchestrate import FETCH_POOL, INCOMING, RAW_CAPTURES
from pipeline.orchestrate.runtime import task_settings

SETTINGS = load_settings()
REDIS_CONN_ID = "chancery_redis"  # AIRFLOW_CONN_CHANCERY_REDIS, set from settings.airflow.redis_url by the bootstrap

incoming = Asset(INCOMING, watchers=[AssetWatcher(
    name="chancery_incoming_redis",
    trigger=MessageQueueTrigger(scheme="redis+pubsub", channels=[SETTINGS.airflow.events_channel],
                                redis_conn_id=REDIS_CONN_ID, poll_interval=1),
)])


@dag(
    schedule=[incoming],
    start_date=datetime(2015, 1, 1, tzinfo=UTC),
    catchup=False,
    tags=["chancery", "ingest", "events"],
    default_args={"owner": "chancery", "retries": 2, "retry_delay": timedelta(seconds=20),
                  "retry_exponential_backoff": 2.0, "max_retry_delay": timedelta(minutes=10)},
)
def event_ingest() -> None:
    @task(pool=FETCH_POOL, queue=SETTINGS.airflow.fetch_queue, outlets=[Asset(RAW_CAPTURES)],
          execution_timeout=timedelta(minutes=30))
    def ingest(run_id=None, dag_run=None, triggering_asset_events=None) -> dict:
        from pipeline.orchestrate.messages import request_from_events
        from pipeline.orchestrate.steps import ingest_event, raw_captures_extra

        extras = [e.extra for events in (triggering_asset_events or {}).values() for e in events]
        request = request_from_events(extras)
        result = ingest_event(task_settings(), request, run_id, "event_ingest", dag_run.run_after)
        extra = raw_captures_extra([result], run_id, "event_ingest", None)
        get_current_context()["outlet_events"][Asset(RAW_CAPTURES)].extra = extra
        return {"request": result["request"], "warcs": result["warcs"], "failures": result["failures"]}

    ingest()


event_ingest()
