"""Every panel and saved search runs, on the real engine, the request Kibana would send, over the demo newsroom.

The demo newsroom is ingested once for the module (fetch → extract → enrich → index, as `chancery demo`
does); then the run reports the DAGs store and one real dead letter are added. For each Lens layer the
request is built the way Lens builds it (terms, date_histogram and filters buckets nested in column
order; count, average and sum metrics; time-shifted columns as filters), for the Vega panel its own
request body is sent, for each saved search its KQL. Every field must exist in the live mapping
(field_caps), be aggregatable where it is aggregated, and the answer must have non-empty buckets.
"""

from __future__ import annotations

import dataclasses
import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from pipeline.config import Settings
from pipeline.kibana import kql
from pipeline.kibana.objects import (
    COVERAGE_DASHBOARD,
    HEALTH_DASHBOARD,
    RUN_SEARCH,
    LensLayer,
    SavedObject,
    data_view_of,
    for_settings,
    lens_layers,
    load,
    panels,
    runtime_fields,
    search_query,
    vega_spec,
)

pytestmark = [pytest.mark.engine, pytest.mark.slow]

SHIPPED = load()


@dataclasses.dataclass
class Demo:
    settings: Settings
    es: Any
    objects: dict[str, SavedObject]
    run_id: str
    indexed: int
    painless: bool

    def view(self, view_id: str | None) -> SavedObject:
        return self.objects[str(view_id)]

    def caps(self, index: str) -> dict[str, dict[str, Any]]:
        response = self.es.field_caps(index=index, fields="*")
        return {name: next(iter(types.values())) for name, types in response["fields"].items()}


@pytest.fixture(scope="module")
def demo(engine_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    from pipeline.cli.demo_cmd import demo_settings, ingest_newsroom
    from pipeline.demo.newsroom import serve
    from pipeline.index.bulk import index_articles
    from pipeline.index.client import connect
    from pipeline.index.runs import store_run_report
    from pipeline.index.setup import remove_index_family
    from pipeline.orchestrate.steps import assemble_report
    from pipeline.outcomes import Tally

    prefix = f"k{uuid.uuid4().hex[:8]}-articles"
    settings = demo_settings(dataclasses.replace(
        engine_settings, home=tmp_path_factory.mktemp("kibana-demo"),
        elasticsearch=dataclasses.replace(engine_settings.elasticsearch, index_prefix=prefix,
                                          runs_index=f"{prefix}-runs")))
    es = connect(settings)
    try:
        with serve() as newsroom:
            report = ingest_newsroom(Console(file=io.StringIO()), newsroom, settings)
        assert report.indexed > 30, report.to_dict()
        # The run reports the DAGs store: the fetch summary (nightly_ingest's assemble_report) and the
        # processing summary with its outcome counts (process_captures' drain summary).
        fetch = report.fetch_report or {}
        now = datetime.now(UTC)
        store_run_report(es, settings, assemble_report(
            [{"sources": fetch["by_source"], "warcs": [str(p) for p in report.warc_paths], "failures": {}}],
            report.run_id, "nightly_ingest", (now - timedelta(days=1), now)))
        store_run_report(es, settings, {"run_id": report.run_id, "dag_id": "process_captures", "kind": "process",
                                        "status": "success", "outcomes": report.tally.as_dict(),
                                        "indexed": report.indexed, "failed": report.failed})
        # A real dead letter: an article whose word count overflows the mapping's integer is refused.
        from pipeline.index.search import SearchQuery, search

        first = search(es, settings, SearchQuery(size=1)).hits[0]
        doc = es.get(index=prefix, id=first.id)["_source"]
        from pipeline.models import Article

        article = Article.from_dict(doc)
        refused = dataclasses.replace(Article.new(article.url + "?refused=1", source=article.source,
                                                  title=article.title, published_at=article.published_at,
                                                  fetched_at=article.fetched_at), word_count=2**40)
        dead = index_articles(es, [refused], settings, Tally())
        assert dead.failed == 1, dead
        es.indices.refresh(index=f"{prefix}*")
        modules = {m["name"] for node in es.nodes.info(metric="plugins")["nodes"].values() for m in node["modules"]}
        objects = {o.id: o for o in for_settings(SHIPPED, settings)}
        yield Demo(settings, es, objects, report.run_id, report.indexed, "lang-painless" in modules)
    finally:
        remove_index_family(es, settings, extra=(settings.elasticsearch.runs_index,))
        es.close()


# -- building the requests Kibana sends ------------------------------------------------------------


def _dashboard_time(dashboard: SavedObject) -> tuple[str, str] | None:
    a = dashboard.attributes
    return (a["timeFrom"], a["timeTo"]) if a.get("timeRestore") else None


def _shift(expr: str, shift: str | None) -> str:
    return expr if not shift else (f"{expr}-{shift}" if expr != "now" else f"now-{shift}")


def lens_request(layer: LensLayer, time_field: str, time: tuple[str, str] | None) -> tuple[dict[str, Any], list[str]]:
    """(search body, the names of the aggregations on the path to the innermost buckets)."""
    buckets = [(cid, c) for cid, c in layer.columns if c.get("isBucketed")]
    metrics = [(cid, c) for cid, c in layer.columns if not c.get("isBucketed")]
    shifts = sorted({c["timeShift"] for _, c in metrics if c.get("timeShift")})
    inner: dict[str, Any] = {}
    for cid, column in metrics:
        agg: dict[str, Any] | None = None
        if column["operationType"] == "average":
            agg = {"avg": {"field": column["sourceField"]}}
        elif column["operationType"] == "sum":
            agg = {"sum": {"field": column["sourceField"]}}
        if column.get("timeShift") and time:
            window = {"range": {time_field: {"gte": _shift(time[0], column["timeShift"]),
                                             "lte": _shift(time[1], column["timeShift"])}}}
            inner[cid] = {"filter": window, **({"aggs": {"value": agg}} if agg else {})}
        elif agg:
            inner[cid] = agg
    if shifts and time:  # only the unshifted columns keep the dashboard's own window
        for cid, column in metrics:
            if not column.get("timeShift"):
                inner[cid] = {"filter": {"range": {time_field: {"gte": time[0], "lte": time[1]}}}}
    aggs, path = inner, []
    for cid, column in reversed(buckets):
        operation = column["operationType"]
        if operation == "terms":
            bucket: dict[str, Any] = {"terms": {"field": column["sourceField"], "size": column["params"]["size"]}}
        elif operation == "date_histogram":
            bucket = {"date_histogram": {"field": column["sourceField"], "calendar_interval": "day",
                                         "min_doc_count": 1}}
        elif operation == "filters":
            bucket = {"filters": {"filters": {f["label"]: kql.to_query(f["input"]["query"])
                                              for f in column["params"]["filters"]}}}
        else:
            raise AssertionError(f"no request for {operation}")
        if aggs:
            bucket["aggs"] = aggs
        aggs = {cid: bucket}
        path.insert(0, cid)
    query: dict[str, Any] = {"match_all": {}}
    if time:
        start = _shift(time[0], max(shifts, key=lambda s: int(s[:-1]))) if shifts else time[0]
        query = {"range": {time_field: {"gte": start, "lte": time[1]}}}
    return {"size": 0, "query": query, "aggs": aggs}, path


def _lens_cases() -> list[Any]:
    cases = []
    for dashboard in (o for o in SHIPPED if o.type == "dashboard"):
        for panel in panels(dashboard):
            for layer in lens_layers(panel):
                cases.append(pytest.param(dashboard.id, panel["panelIndex"], id=f"{dashboard.id}:{layer.panel}"))
    return cases


def _panel(demo: Demo, dashboard_id: str, panel_index: str) -> dict[str, Any]:
    return next(p for p in panels(demo.objects[dashboard_id]) if p["panelIndex"] == panel_index)


@pytest.mark.parametrize(("dashboard_id", "panel_index"), _lens_cases())
def test_lens_panel_fields_exist_and_its_buckets_are_not_empty(demo: Demo, dashboard_id: str, panel_index: str) -> None:
    dashboard = demo.objects[dashboard_id]
    (layer,) = lens_layers(_panel(demo, dashboard_id, panel_index))
    view = demo.view(layer.data_view)
    index = view.attributes["title"]
    caps = demo.caps(index)
    runtime = runtime_fields(view)
    for _, column in layer.columns:
        name = column.get("sourceField")
        if not name or name == "___records___":
            continue
        if name in runtime:  # it reads methods from _source: the mapping must keep that object
            mappings = demo.es.indices.get_mapping(index=index)
            assert all("methods" in m["mappings"]["properties"] for m in mappings.values())
            continue
        assert name in caps, f"{name} is not in the mapping of {index}"
        if column["operationType"] in ("terms", "date_histogram", "average", "sum"):
            assert caps[name]["aggregatable"], f"{name} is not aggregatable"
    body, path = lens_request(layer, view.attributes["timeFieldName"], _dashboard_time(dashboard))
    used = {c.get("sourceField") for _, c in layer.columns} & set(runtime)
    if used:
        if not demo.painless:
            pytest.skip(f"runtime field {sorted(used)} needs painless; this engine has no lang-painless module "
                        "(the docker compose Elasticsearch has it)")
        body["runtime_mappings"] = {name: runtime[name] for name in used}
    response = demo.es.search(index=index, **body)
    buckets = response["aggregations"][path[0]]["buckets"]
    values = list(buckets.values()) if isinstance(buckets, dict) else buckets
    assert any(b["doc_count"] > 0 for b in values), (layer.panel, response["aggregations"])
    for name, column in layer.columns:
        if column["operationType"] == "average":
            assert any(b[name]["value"] is not None for b in _innermost(values, path[1:])), layer.panel


def _innermost(buckets: list[dict[str, Any]], path: list[str]) -> list[dict[str, Any]]:
    for step in path:
        nxt: list[dict[str, Any]] = []
        for bucket in buckets:
            inner = bucket[step]["buckets"]
            nxt.extend(inner.values() if isinstance(inner, dict) else inner)
        buckets = nxt
    return buckets


def test_the_topic_split_finds_the_demo_topics(demo: Demo) -> None:
    panel = next(p for p in panels(demo.objects[COVERAGE_DASHBOARD]) if p["title"] == "Articles over time, by topic")
    (layer,) = lens_layers(panel)
    body, path = lens_request(layer, "published_at", None)
    response = demo.es.search(index=demo.view(layer.data_view).attributes["title"], **body)
    topics = {label for day in response["aggregations"][path[0]]["buckets"]
              for label, bucket in day[path[1]]["buckets"].items() if bucket["doc_count"]}
    assert {"Territorial dispute", "Sanctions", "Diplomatic meeting"} <= topics, topics


def test_the_vega_outcomes_panel_runs_its_own_request(demo: Demo) -> None:
    dashboard = demo.objects[HEALTH_DASHBOARD]
    spec = next(s for s in map(vega_spec, panels(dashboard)) if s)
    url = spec["data"]["url"]
    assert url["index"] == demo.settings.elasticsearch.runs_index
    caps = demo.caps(url["index"])
    assert caps[url["%timefield%"]]["type"] == "date"
    # %context% adds the dashboard's query and time range; Kibana fills them in like this.
    start, end = _dashboard_time(dashboard) or ("now-15m", "now")
    body = {**url["body"], "query": {"bool": {"must": [{"match_all": {}}],
                                              "filter": [{"range": {url["%timefield%"]: {"gte": start, "lte": end}}}]}}}
    response = demo.es.search(index=url["index"], **body)
    (run,) = [b for b in response["aggregations"]["runs"]["buckets"] if b["key"] == demo.run_id]
    assert run["fetch_ok"]["value"] > 0
    assert run["dead_lettered"]["value"] == 0
    assert "totals.ok" in caps and caps["totals.ok"]["aggregatable"]
    for name, agg in body["aggs"]["runs"]["aggs"].items():
        field = agg["sum"]["field"]
        if run[name]["value"]:
            assert caps[field]["aggregatable"], field


def test_every_saved_search_finds_articles_and_its_columns_exist(demo: Demo) -> None:
    for search in (o for o in demo.objects.values() if o.type == "search"):
        view = demo.view(data_view_of(search))
        index = view.attributes["title"]
        caps = demo.caps(index)
        for column in search.attributes["columns"]:
            assert column in caps, (search.id, column)
        for field, _ in search.attributes["sort"]:
            assert caps[field]["aggregatable"], (search.id, field)
        query = kql.to_query(search_query(search))
        if search.attributes.get("timeRestore"):
            window = search.attributes["timeRange"]
            time_field = view.attributes["timeFieldName"]
            query = {"bool": {"filter": [query, {"range": {time_field: {"gte": window["from"], "lt": window["to"]}}}]}}
        response = demo.es.search(index=index, query=query, size=100)
        hits = [h["_source"] for h in response["hits"]["hits"]]
        assert hits, f"{search.attributes['title']} found nothing on the demo data"
        title = search.attributes["title"]
        if title.startswith("Japan"):
            assert all({"JP", "RU"} <= set(h["countries"]) for h in hits), title
        if "territorial" in title.lower():
            assert all("territorial-dispute" in {t["id"] for t in h["topics"]} for h in hits), title
        if title.endswith("2015"):
            assert all(h["published_at"].startswith("2015") for h in hits), title


def test_the_data_views_read_live_indices_with_their_time_fields(demo: Demo) -> None:
    for view in (o for o in demo.objects.values() if o.type == "index-pattern"):
        caps = demo.caps(view.attributes["title"])
        assert caps[view.attributes["timeFieldName"]]["type"] == "date", view.id
        import json

        for name in json.loads(view.attributes["fieldAttrs"]):
            assert name in caps or name in runtime_fields(view), (view.id, name)


def test_the_run_link_opens_exactly_the_runs_articles(demo: Demo) -> None:
    from urllib.parse import unquote

    from pipeline.kibana.links import kibana_discover_url

    link = kibana_discover_url("http://kibana.example:5601", demo.run_id)
    assert f"/app/discover#/view/{RUN_SEARCH}?_g=" in link
    kql_text = unquote(link.split("query:'", 1)[1].rsplit("'", 1)[0])
    view = demo.view(data_view_of(demo.objects[RUN_SEARCH]))
    count = demo.es.count(index=view.attributes["title"], query=kql.to_query(kql_text))["count"]
    assert count == demo.indexed


def test_runtime_field_script_reads_a_field_the_documents_carry(demo: Demo, tmp_path: Path) -> None:
    """Without painless the extraction-method panel cannot run here; its input can still be checked."""
    view = demo.view("chancery-articles-fetched")
    assert "params._source.methods" in runtime_fields(view)["body_method"]["script"]["source"]
    hits = demo.es.search(index=view.attributes["title"], size=50, query={"match_all": {}})["hits"]["hits"]
    methods = [h["_source"].get("methods", {}).get("body") for h in hits]
    assert all(isinstance(m, str) and m for m in methods if m is not None)
    assert any(methods), methods
