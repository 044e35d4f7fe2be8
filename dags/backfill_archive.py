"""backfill_archive: WARC / CC-NEWS archives → the articles of a date range, in parallel batches.

Trigger it with params, e.g. ``airflow dags trigger backfill_archive --conf
'{"start": "2015-09-20", "end": "2015-10-01", "archives": "/data/cc-news/*.warc.gz", "sources": []}'``.
Each batch keeps the records of the window (and of the sources' hosts), writes them
to a run-scoped WARC, and the run ends with a raw-captures event like the nightly one.
For archives on the web (the Wayback Machine, GDELT, CC-NEWS over HTTP), backfill
``nightly_ingest`` or run ``chancery backfill``: the sources' ``archives:`` say where (docs/backfill.md).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Asset, Param, dag, get_current_context, task

from pipeline.config import load_settings
from pipeline.orchestrate import FETCH_POOL, RAW_CAPTURES

SETTINGS = load_settings()


@dag(
    schedule=None,
    start_date=datetime(2015, 1, 1, tzinfo=UTC),
    catchup=False,
    tags=["chancery", "ingest", "backfill"],
    params={
        "start": Param("2015-09-20", type="string", format="date", description="first day (UTC), inclusive"),
        "end": Param("2015-10-11", type="string", format="date", description="last day (UTC), exclusive"),
        "archives": Param("", type="string", description="WARC / CC-NEWS paths or globs, space or comma separated"),
        "sources": Param([], type="array", description="source ids whose hosts to keep; empty: every host"),
        "batch_size": Param(4, type="integer", minimum=1, description="archive files per parallel task"),
    },
    default_args={"owner": "chancery", "retries": 2, "retry_delay": timedelta(seconds=30),
                  "retry_exponential_backoff": 2.0, "max_retry_delay": timedelta(minutes=10)},
)
def backfill_archive() -> None:
    @task
    def plan(params=None) -> list[list[str]]:
        from pipeline.orchestrate.runtime import task_settings
        from pipeline.orchestrate.steps import archive_batches

        return archive_batches(params["archives"], params["batch_size"], task_settings().airflow.max_mapped_batches)

    @task(pool=FETCH_POOL, queue=SETTINGS.airflow.fetch_queue, execution_timeout=timedelta(minutes=45))
    def extract(files: list[str], params=None, run_id=None, ti=None) -> dict:
        from pipeline.orchestrate.runtime import task_settings
        from pipeline.orchestrate.steps import archive_sources, fetch_batch, hosts_for, parse_day

        settings = task_settings()
        sources = archive_sources(files, hosts_for(settings, params["sources"]))
        window = (parse_day(params["start"]), parse_day(params["end"]))
        return fetch_batch(settings, [s.id for s in sources], window, run_id, "backfill_archive",
                           batch=ti.map_index, label="archives", sources=sources,
                           raise_on_error=ti.try_number <= ti.max_tries)

    @task(outlets=[Asset(RAW_CAPTURES)], trigger_rule="all_done")
    def emit(results: list, batches: list, params=None, run_id=None) -> dict:
        from pipeline.orchestrate.runtime import task_settings
        from pipeline.orchestrate.steps import assemble_report, parse_day, raw_captures_extra, store_report

        window = (parse_day(params["start"]), parse_day(params["end"]))
        extra = raw_captures_extra(list(results), run_id, "backfill_archive", window)
        get_current_context()["outlet_events"][Asset(RAW_CAPTURES)].extra = extra
        summary = assemble_report(list(results), run_id, "backfill_archive", window, None, len(batches))
        store_report(task_settings(), summary)
        return summary

    batches = plan()
    emit(extract.expand(files=batches), batches)


backfill_archive()
