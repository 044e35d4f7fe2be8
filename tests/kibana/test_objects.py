"""The shipped saved objects, offline: parse, unique ids, references, the shapes real exports carry.

The JSON Schemas below were written from Kibana's own saved-object types (the dashboard attributes
schema, the legacy saved-search schema, the keys data view exports carry) and from real exports (the
functional-test archives, the integrations packages' dashboards with Lens panels by value). The
check (`pipeline.kibana.objects.check`) is then shown to catch each kind of mistake on a broken copy.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from pipeline.config import Settings
from pipeline.index.mapping import IndexNames
from pipeline.kibana import kql
from pipeline.kibana.objects import (
    ARTICLES_VIEW,
    COVERAGE_DASHBOARD,
    HEALTH_DASHBOARD,
    RUN_SEARCH,
    SHIPPED,
    SavedObject,
    check,
    for_settings,
    index_fields,
    lens_layers,
    load,
    normalise_export,
    panels,
    parse_ndjson,
    to_ndjson,
    vega_spec,
)

REPO = Path(__file__).resolve().parents[2]

_STRING = {"type": "string"}
_JSON_STRING = {"type": "string", "pattern": r"^[\[{]"}
ENVELOPE = {
    "type": "object",
    "required": ["id", "type", "attributes", "references", "coreMigrationVersion", "typeMigrationVersion"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "pattern": "^chancery-[a-z0-9-]+$"},
        "type": {"enum": ["index-pattern", "search", "dashboard"]},
        "attributes": {"type": "object"},
        "references": {"type": "array", "items": {
            "type": "object", "required": ["id", "name", "type"], "additionalProperties": False,
            "properties": {"id": _STRING, "name": _STRING, "type": _STRING}}},
        "coreMigrationVersion": {"type": "string", "pattern": r"^\d+\.\d+\.\d+$"},
        "typeMigrationVersion": {"type": "string", "pattern": r"^\d+\.\d+\.\d+$"},
    },
}
ATTRIBUTES = {
    "index-pattern": {
        "type": "object", "additionalProperties": False,
        "required": ["title", "name", "timeFieldName", "fieldAttrs", "fieldFormatMap", "runtimeFieldMap",
                     "fields", "sourceFilters"],
        "properties": {"title": _STRING, "name": _STRING, "timeFieldName": _STRING, "fieldAttrs": _JSON_STRING,
                       "fieldFormatMap": _JSON_STRING, "runtimeFieldMap": _JSON_STRING, "fields": _JSON_STRING,
                       "sourceFilters": _JSON_STRING},
    },
    "search": {
        "type": "object", "additionalProperties": False,
        "required": ["title", "description", "columns", "sort", "kibanaSavedObjectMeta", "grid", "hideChart",
                     "isTextBasedQuery"],
        "properties": {
            "title": _STRING, "description": _STRING,
            "columns": {"type": "array", "items": _STRING, "minItems": 1},
            "sort": {"type": "array", "items": {"type": "array", "prefixItems": [_STRING, {"enum": ["asc", "desc"]}],
                                                "minItems": 2, "maxItems": 2}},
            "grid": {"type": "object"}, "hideChart": {"type": "boolean"}, "isTextBasedQuery": {"const": False},
            "kibanaSavedObjectMeta": {"type": "object", "required": ["searchSourceJSON"], "additionalProperties": False,
                                      "properties": {"searchSourceJSON": _JSON_STRING}},
            "timeRestore": {"type": "boolean"},
            "timeRange": {"type": "object", "required": ["from", "to"]},
            "refreshInterval": {"type": "object", "required": ["pause", "value"]},
        },
    },
    "dashboard": {
        "type": "object", "additionalProperties": False,
        "required": ["title", "description", "panelsJSON", "optionsJSON", "kibanaSavedObjectMeta", "timeRestore",
                     "version"],
        "properties": {
            "title": _STRING, "description": _STRING, "panelsJSON": _JSON_STRING, "optionsJSON": _JSON_STRING,
            "kibanaSavedObjectMeta": {"type": "object", "required": ["searchSourceJSON"],
                                      "properties": {"searchSourceJSON": _JSON_STRING}},
            "timeRestore": {"type": "boolean"}, "timeFrom": _STRING, "timeTo": _STRING,
            "refreshInterval": {"type": "object", "required": ["pause", "value"]}, "version": {"const": 1},
        },
    },
}
GRID = {"type": "object", "required": ["x", "y", "w", "h", "i"],
        "properties": {k: {"type": "integer", "minimum": 0} for k in "xywh"}}
LENS_PANEL = {
    "type": "object",
    "required": ["version", "type", "gridData", "panelIndex", "embeddableConfig", "title"],
    "properties": {
        "type": {"const": "lens"}, "gridData": GRID,
        "embeddableConfig": {"type": "object", "required": ["attributes"], "properties": {"attributes": {
            "type": "object",
            "required": ["title", "visualizationType", "type", "references", "state"],
            "properties": {
                "type": {"const": "lens"},
                "visualizationType": {"enum": ["lnsXY", "lnsHeatmap", "lnsChoropleth", "lnsPie", "lnsDatatable"]},
                "state": {"type": "object",
                          "required": ["visualization", "query", "filters", "datasourceStates", "internalReferences",
                                       "adHocDataViews"],
                          "properties": {"datasourceStates": {"type": "object", "required": ["formBased"]}}},
            }}}},
    },
}
SEARCH_PANEL = {"type": "object", "required": ["type", "gridData", "panelIndex", "panelRefName", "embeddableConfig"],
                "properties": {"type": {"const": "search"}, "gridData": GRID}}
VEGA_PANEL = {"type": "object", "required": ["type", "gridData", "panelIndex", "embeddableConfig"],
              "properties": {"type": {"const": "visualization"}, "gridData": GRID, "embeddableConfig": {
                  "type": "object", "required": ["savedVis"], "properties": {"savedVis": {
                      "type": "object", "required": ["type", "params", "uiState", "data"],
                      "properties": {"type": {"const": "vega"}}}}}}}


@pytest.fixture(scope="module")
def shipped() -> list[SavedObject]:
    return load()


def _raw_lines() -> list[dict[str, Any]]:
    return [json.loads(line) for line in SHIPPED.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_every_line_parses_and_ids_are_unique() -> None:
    lines = SHIPPED.read_text(encoding="utf-8").splitlines()
    assert all(line.strip() for line in lines), "no blank lines"
    objects = [json.loads(line) for line in lines]
    ids = [o["id"] for o in objects]
    assert len(ids) == len(set(ids)), ids


def test_every_object_has_the_shape_of_a_real_export() -> None:
    for raw in _raw_lines():
        jsonschema.validate(raw, ENVELOPE)
        jsonschema.validate(raw["attributes"], ATTRIBUTES[raw["type"]])
        if raw["type"] == "dashboard":
            for panel in json.loads(raw["attributes"]["panelsJSON"]):
                schema = {"lens": LENS_PANEL, "search": SEARCH_PANEL, "visualization": VEGA_PANEL}[panel["type"]]
                jsonschema.validate(panel, schema)


def test_every_reference_resolves(shipped: list[SavedObject]) -> None:
    known = {(o.type, o.id) for o in shipped}
    for obj in shipped:
        for ref in obj.references:
            assert (ref["type"], ref["id"]) in known, (obj.id, ref)
    # Lens layers name their data view through a reference the dashboard also carries, panel-prefixed.
    for dashboard in (o for o in shipped if o.type == "dashboard"):
        top = {r["name"]: r["id"] for r in dashboard.references}
        for panel in panels(dashboard):
            inner = panel["embeddableConfig"].get("attributes", {}).get("references", [])
            for ref in inner:
                assert top[f"{panel['panelIndex']}:{ref['name']}"] == ref["id"]
            if panel.get("panelRefName"):
                assert f"{panel['panelIndex']}:{panel['panelRefName']}" in top


def test_the_shipped_objects_pass_the_check(shipped: list[SavedObject]) -> None:
    assert check(shipped) == []


def test_type_versions_are_the_8x_baseline_kibana_migrates_forward(shipped: list[SavedObject]) -> None:
    versions = {(o.type, o.type_migration_version, o.core_migration_version) for o in shipped}
    assert versions == {("index-pattern", "8.0.0", "8.8.0"), ("search", "8.0.0", "8.8.0"),
                        ("dashboard", "8.9.0", "8.8.0")}


def test_the_data_view_reads_the_real_read_alias_by_publication_time(shipped: list[SavedObject]) -> None:
    view = next(o for o in shipped if o.id == ARTICLES_VIEW)
    assert view.attributes["name"] == "Diplomacy coverage"
    assert view.attributes["title"] == IndexNames(Settings().elasticsearch.index_prefix).read_alias
    assert view.attributes["timeFieldName"] == "published_at"
    assert index_fields()["articles"].get("published_at").type == "date"  # type: ignore[union-attr]
    labels = json.loads(view.attributes["fieldAttrs"])
    assert {"title", "source.domain", "countries", "persons", "topics.id"} <= set(labels)
    assert all(entry["customLabel"] for entry in labels.values())
    assert json.loads(view.attributes["fieldFormatMap"])["url"]["id"] == "url"


def test_the_saved_searches_the_issue_asks_for(shipped: list[SavedObject]) -> None:
    searches = {o.attributes["title"]: o for o in shipped if o.type == "search"}
    for title in ("Japan–Russia relations", "Sanctions", "Territorial disputes in East Asia",
                  "Refugees and humanitarian aid", "UN Security Council",
                  "Japan and Russia on territorial disputes, 2015", "Latest articles"):
        search = searches[title]
        assert search.attributes["columns"] == ["title", "source.domain", "countries", "persons", "topics.id"]
        assert search.attributes["sort"] == [["published_at", "desc"]]
    analyst = searches["Japan and Russia on territorial disputes, 2015"]
    assert analyst.attributes["timeRestore"] is True
    assert analyst.attributes["timeRange"] == {"from": "2015-01-01T00:00:00.000Z", "to": "2016-01-01T00:00:00.000Z"}
    assert next(o for o in shipped if o.id == RUN_SEARCH).attributes["title"] == "Latest articles"


def test_the_dashboards_hold_the_panels_the_issue_lists(shipped: list[SavedObject]) -> None:
    def kinds(dashboard_id: str) -> dict[str, str]:
        dashboard = next(o for o in shipped if o.id == dashboard_id)
        out = {}
        for panel in panels(dashboard):
            layers = list(lens_layers(panel))
            out[panel["title"]] = layers[0].visualization_type if layers else panel["type"]
        return out

    coverage = kinds(COVERAGE_DASHBOARD)
    assert coverage == {
        "Articles over time, by topic": "lnsXY", "Top countries": "lnsXY",
        "Countries that appear together": "lnsHeatmap", "Top people": "lnsXY", "Top organisations": "lnsXY",
        "Articles by country": "lnsChoropleth", "Sources": "lnsPie",
        "Tone over time (−1 negative … 1 positive)": "lnsXY", "Latest articles": "search",
    }
    health = kinds(HEALTH_DASHBOARD)
    assert set(health.values()) == {"lnsXY", "lnsDatatable", "visualization", "search"}
    assert len(health) == 7


def test_the_topic_split_covers_every_taxonomy_topic(shipped: list[SavedObject]) -> None:
    taxonomy = yaml.safe_load((REPO / "pipeline/data/taxonomy.yaml").read_text(encoding="utf-8"))
    dashboard = next(o for o in shipped if o.id == COVERAGE_DASHBOARD)
    panel = next(p for p in panels(dashboard) if p["title"] == "Articles over time, by topic")
    (layer,) = lens_layers(panel)
    filters = next(c for _, c in layer.columns if c["operationType"] == "filters")["params"]["filters"]
    queried = {next(iter(kql.to_query(f["input"]["query"])["match_phrase"].values())) for f in filters}
    assert queried == {t["id"] for t in taxonomy["topics"]}


# -- the check catches each kind of mistake ---------------------------------------------------------


def _edit(objects: list[SavedObject], object_id: str, change: Any) -> list[SavedObject]:
    out = []
    for obj in objects:
        if obj.id == object_id:
            data = obj.to_dict()
            change(data)
            obj = SavedObject.from_dict(data)
        out.append(obj)
    return out


def _edit_first_lens_column(data: dict[str, Any], change: Any) -> None:
    items = json.loads(data["attributes"]["panelsJSON"])
    layer = next(iter(items[1]["embeddableConfig"]["attributes"]["state"]["datasourceStates"]["formBased"]
                      ["layers"].values()))
    change(next(iter(layer["columns"].values())))
    data["attributes"]["panelsJSON"] = json.dumps(items)


@pytest.mark.parametrize(("object_id", "change", "expected"), [
    (RUN_SEARCH, lambda d: d.update(id="chancery-articles", type="search"), "not unique"),
    (RUN_SEARCH, lambda d: d["references"][0].update(id="chancery-missing"), "is not in the file"),
    (COVERAGE_DASHBOARD, lambda d: d["references"].pop(0), "no reference named"),
    (COVERAGE_DASHBOARD, lambda d: _edit_first_lens_column(d, lambda c: c.update(sourceField="countrys")),
     "'countrys' is not in the mapping"),
    (COVERAGE_DASHBOARD, lambda d: _edit_first_lens_column(d, lambda c: c.update(sourceField="body")),
     "aggregated but not aggregatable"),
    (COVERAGE_DASHBOARD, lambda d: _edit_first_lens_column(d, lambda c: c.update(sourceField="topics.id")),
     "nested object, which Lens cannot use"),
    (COVERAGE_DASHBOARD, lambda d: d.update(typeMigrationVersion="10.2.0"), "newer than 8.9.0"),
    ("chancery-search-sanctions", lambda d: d["attributes"]["kibanaSavedObjectMeta"].update(
        searchSourceJSON=json.dumps({"query": {"query": "topic:sanctions", "language": "kuery"},
                                     "indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.index"})),
     "'topic' is not in the mapping"),
    (ARTICLES_VIEW, lambda d: d["attributes"].update(title="articles-v1"), "is not the index it must read"),
    (ARTICLES_VIEW, lambda d: d["attributes"].update(timeFieldName="title"), "is not a date field"),
    (ARTICLES_VIEW, lambda d: d["attributes"].update(colour="red"), "not in Kibana's index-pattern schema"),
])
def test_the_check_catches(shipped: list[SavedObject], object_id: str, change: Any, expected: str) -> None:
    problems = [str(p) for p in check(_edit(shipped, object_id, change))]
    assert any(expected in p for p in problems), problems


def test_a_line_that_is_not_json_is_named_with_its_number(tmp_path: Path) -> None:
    from pipeline.kibana.objects import ObjectsError

    path = tmp_path / "bad.ndjson"
    path.write_text(SHIPPED.read_text(encoding="utf-8") + '{"id": "broken"\n', encoding="utf-8")
    with pytest.raises(ObjectsError, match=r"bad.ndjson line 15: not JSON"):
        load(path)


# -- index names, exports ----------------------------------------------------------------------------


def test_setup_points_the_objects_at_the_configured_indices(shipped: list[SavedObject]) -> None:
    base = Settings()
    settings = dataclasses.replace(base, elasticsearch=dataclasses.replace(
        base.elasticsearch, index_prefix="news", runs_index="news-runs"))
    moved = {o.id: o for o in for_settings(shipped, settings)}
    assert moved[ARTICLES_VIEW].attributes["title"] == "news"
    assert moved["chancery-deadletters"].attributes["title"] == "news-deadletter"
    assert moved["chancery-runs"].attributes["title"] == "news-runs"
    vegas = [vega_spec(p) for p in panels(moved[HEALTH_DASHBOARD])]
    assert [s["data"]["url"]["index"] for s in vegas if s] == ["news-runs"]
    # An export from that installation comes back to the shipped file byte for byte.
    exported = parse_ndjson(to_ndjson(moved.values()), "export")
    assert to_ndjson(normalise_export(exported, settings, shipped)) == SHIPPED.read_text(encoding="utf-8")


def test_an_export_loses_the_volatile_keys_and_keeps_the_shipped_order(shipped: list[SavedObject]) -> None:
    lines = []
    for obj in reversed(shipped):
        data = obj.to_dict()
        data.update(updated_at="2026-01-02T03:04:05.000Z", version="WzEsMV0=", namespaces=["default"],
                    managed=False, created_by="u_1")
        lines.append(json.dumps(data))
    lines.append(json.dumps({"excludedObjects": [], "exportedCount": len(shipped), "missingRefCount": 0}))
    exported = parse_ndjson("\n".join(lines), "export")
    assert to_ndjson(normalise_export(exported, Settings(), shipped)) == SHIPPED.read_text(encoding="utf-8")


# -- KQL --------------------------------------------------------------------------------------------


def test_kql_becomes_the_query_kibana_sends() -> None:
    assert kql.to_query("") == {"match_all": {}}
    assert kql.to_query('countries:JP and topics.id:"territorial-dispute"') == {"bool": {"filter": [
        {"match": {"countries": "JP"}}, {"match_phrase": {"topics.id": "territorial-dispute"}}]}}
    assert kql.to_query("countries:(JP or RU) and not brief:true") == {"bool": {"filter": [
        {"bool": {"should": [{"match": {"countries": "JP"}}, {"match": {"countries": "RU"}}],
                  "minimum_should_match": 1}},
        {"bool": {"must_not": [{"match": {"brief": "true"}}]}}]}}
    assert kql.fields('a:1 or (b:"x y" and not c:(d or e))') == {"a", "b", "c"}


@pytest.mark.parametrize("query", ["sanctions", "countries:J*", "countries:(JP", "word_count >= 80"])
def test_kql_outside_the_subset_is_refused(query: str) -> None:
    with pytest.raises(kql.KqlError):
        kql.to_query(query)
