"""nightly_ingest: every source, the previous day, fetched into run-scoped WARCs, then a raw-captures event.

Processing and indexing happen downstream in process_captures (woken by the event,
driven by the capture ledger). Backfill history with Airflow's own backfill:
``airflow backfill create --dag-id nightly_ingest --from-date 2015-09-21 --to-date 2015-09-23``.
A day older than a source's feed reaches (``reach_days``, else ``fetch.live_reach_days``) is
fetched from the source's ``archives:`` (archive sitemaps, Wayback, GDELT, CC-NEWS) instead,
chosen in ``fetch_batch`` (docs/backfill.md).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Asset, CronDataIntervalTimetable, dag, get_current_context, task

from pipeline.config import load_settings
from pipeline.orchestrate import FETCH_POOL, RAW_CAPTURES
from pipeline.orchestrate.retry import fetch_retry_policy
from pipeline.orchestrate.runtime import task_settings

SETTINGS = load_settings()


@dag(
    schedule=CronDataIntervalTimetable(f"0 {SETTINGS.airflow.nightly_hour} * * *", timezone="UTC"),
    start_date=datetime(2015, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=3,
    tags=["chancery", "ingest", "nightly"],
    default_args={"owner": "chancery", "retries": 3, "retry_delay": timedelta(seconds=30),
                  "retry_exponential_backoff": 2.0, "max_retry_delay": timedelta(minutes=30)},
)
def nightly_ingest() -> None:
    @task
    def plan() -> list[list[str]]:
        from pipeline.orchestrate.steps import plan_batches

        return plan_batches(task_settings())

    @task(pool=FETCH_POOL, queue=SETTINGS.airflow.fetch_queue, retry_policy=fetch_retry_policy(),
          execution_timeout=timedelta(minutes=45))
    def fetch(batch: list[str], data_interval_start=None, data_interval_end=None, run_id=None, ti=None) -> dict:
        from pipeline.orchestrate.steps import day_window, fetch_batch, window_label

        window = day_window(data_interval_start, data_interval_end)
        return fetch_batch(task_settings(), batch, window, run_id, "nightly_ingest", batch=ti.map_index,
                           label=window_label(window), raise_on_error=ti.try_number <= ti.max_tries)

    @task(outlets=[Asset(RAW_CAPTURES)], trigger_rule="all_done")
    def emit(results: list, data_interval_start=None, data_interval_end=None, run_id=None) -> int:
        from pipeline.orchestrate.steps import day_window, raw_captures_extra

        extra = raw_captures_extra(list(results), run_id, "nightly_ingest",
                                   day_window(data_interval_start, data_interval_end))
        get_current_context()["outlet_events"][Asset(RAW_CAPTURES)].extra = extra
        return len(extra["warcs"])

    @task(trigger_rule="all_done")
    def report(results: list, batches: list, data_interval_start=None, data_interval_end=None,
               run_id=None, logical_date=None) -> dict:
        from pipeline.orchestrate.steps import assemble_report, day_window, store_report

        summary = assemble_report(list(results), run_id, "nightly_ingest",
                                  day_window(data_interval_start, data_interval_end), logical_date, len(batches))
        store_report(task_settings(), summary)
        return summary

    batches = plan()
    results = fetch.expand(batch=batches)
    emit(results) >> report(results, batches)


nightly_ingest()
