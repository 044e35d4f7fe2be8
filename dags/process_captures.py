"""process_captures: drain the capture ledger (extract → enrich → index), then an articles-indexed event.

Woken by any raw-captures event, and hourly whatever the events did: asset events
are a wake-up, not the work list (a burst of events can start fewer runs than
events). Every run claims and processes all pending captures, so two runs at once
are safe and nothing waits for the next event.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Asset, AssetAlias, AssetOrTimeSchedule, CronTriggerTimetable, dag, get_current_context, task

from pipeline.config import load_settings
from pipeline.orchestrate import ARTICLES_INDEXED, INDEX_POOL, RAW_CAPTURES
from pipeline.orchestrate.runtime import task_settings

SETTINGS = load_settings()
CONTINUE = "chancery-process-continue"  # alias: a raw-captures event only when the time budget ran out


@dag(
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(SETTINGS.airflow.process_fallback_cron, timezone="UTC"),
        assets=[Asset(RAW_CAPTURES)],
    ),
    start_date=datetime(2015, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=2,
    tags=["chancery", "process"],
    default_args={"owner": "chancery", "retries": 3, "retry_delay": timedelta(seconds=30),
                  "retry_exponential_backoff": 2.0, "max_retry_delay": timedelta(minutes=10)},
)
def process_captures() -> None:
    @task(pool=INDEX_POOL, queue=SETTINGS.airflow.process_queue,
          outlets=[Asset(ARTICLES_INDEXED), AssetAlias(CONTINUE)], execution_timeout=timedelta(hours=1))
    def drain(run_id=None, dag_run=None, triggering_asset_events=None) -> dict:
        from pipeline.orchestrate.steps import drain_captures, hinted_warcs

        hints = hinted_warcs(triggering_asset_events, dag_run.conf)  # logged only: the ledger is the work list
        drained = drain_captures(task_settings(), worker=f"process_captures:{run_id}",
                                 workers=SETTINGS.process.workers)  # worker processes: one per core by default
        drained.raise_if_left_pending()  # the engine went away: those captures are pending, the retry drains
        summary = drained.to_dict()
        outlet_events = get_current_context()["outlet_events"]
        outlet_events[Asset(ARTICLES_INDEXED)].extra = {k: summary[k] for k in ("processed", "indexed", "outcomes")}
        if summary["budget_exhausted"] and summary["remaining"]:  # hand the rest to another run, now
            outlet_events[AssetAlias(CONTINUE)].add(Asset(RAW_CAPTURES), extra={"remaining": summary["remaining"]})
        return {**summary, "hinted": len(hints), "captures": summary["captures"][:50]}

    drain()


process_captures()
