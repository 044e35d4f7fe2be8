"""The shipped Kibana saved objects: load, check offline, point at the configured indices, normalise exports.

The objects live in ``saved_objects.ndjson`` beside this module, one per line, in the shape Kibana's
Saved Objects export writes: ``id``, ``type``, ``attributes``, ``references``, ``coreMigrationVersion``
and ``typeMigrationVersion``. Their type versions are the 8.x ones (``BASELINE_TYPE_VERSIONS``), so
every Kibana from ``MIN_KIBANA`` on, 8.x and 9.x, imports them and migrates them forward itself.

``check`` needs no Kibana and no engine: it reads the index mappings from ``pipeline.index.mapping``
and verifies that every field a data view, saved search, Lens column, KQL query or Vega spec names
exists there, is aggregatable where it is aggregated, and that every reference resolves.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config import Settings
from pipeline.index.mapping import DEADLETTER_MAPPINGS, RUNS_MAPPINGS, IndexNames, article_properties
from pipeline.kibana import kql
from pipeline.outcomes import Outcome

SHIPPED = Path(__file__).resolve().parent / "saved_objects.ndjson"

# The 8.x type versions the objects are written in, and so the oldest Kibana that reads them all:
# dashboards with Lens panels by value in the 8.9 layout. Kibana migrates older versions forward on
# import; it refuses versions newer than it knows. A Kibana 9.x export carries newer ones
# (model versions such as 10.2.0), which `check` reports, because they narrow the range.
MIN_KIBANA = "8.9.0"
KIBANA_RANGE = "Kibana 8.9 or newer, 8.x and 9.x"
CORE_MIGRATION_VERSION = "8.8.0"
BASELINE_TYPE_VERSIONS = {"index-pattern": "8.0.0", "search": "8.0.0", "dashboard": "8.9.0"}

# Fixed ids: re-importing overwrites the same objects, and links can name them.
ARTICLES_VIEW = "chancery-articles"  # "Diplomacy coverage", on the read alias, by publication time
FETCHED_VIEW = "chancery-articles-fetched"  # the same articles by fetch time, for pipeline health
RUNS_VIEW = "chancery-runs"
DEADLETTERS_VIEW = "chancery-deadletters"
RUN_SEARCH = "chancery-search-latest"  # what the per-run Discover links open, with the run's filter
COVERAGE_DASHBOARD = "chancery-diplomacy-coverage"
HEALTH_DASHBOARD = "chancery-pipeline-health"

# Which index each data view reads, named by role so a configured prefix can be substituted.
ARTICLES, RUNS, DEADLETTERS = "articles", "runs", "deadletters"
VIEW_INDEX = {ARTICLES_VIEW: ARTICLES, FETCHED_VIEW: ARTICLES, RUNS_VIEW: RUNS, DEADLETTERS_VIEW: DEADLETTERS}

# Attribute keys of each type, from Kibana's own schemas: the dashboard attributes schema (v1-v3),
# the legacy saved-search schema (8.8.0 and model versions 1-5), and the keys data view exports carry
# (the index-pattern type declares no attribute schema).
REQUIRED = {"index-pattern": {"title"}, "search": {"title", "kibanaSavedObjectMeta"}, "dashboard": {"title"}}
ALLOWED = {
    "index-pattern": {"title", "name", "timeFieldName", "fields", "fieldAttrs", "fieldFormatMap", "runtimeFieldMap",
                      "sourceFilters", "typeMeta", "allowHidden", "type", "intervalName"},
    "search": {"title", "description", "columns", "sort", "grid", "rowHeight", "rowsPerPage", "hideChart",
               "breakdownField", "kibanaSavedObjectMeta", "isTextBasedQuery", "usesAdHocDataView", "timeRestore",
               "timeRange", "refreshInterval", "viewMode", "hideAggregatedPreview", "hits", "version",
               "sampleSize", "headerRowHeight", "visContext", "density", "tabs"},
    "dashboard": {"title", "description", "kibanaSavedObjectMeta", "timeRestore", "timeFrom", "timeTo",
                  "refreshInterval", "controlGroupInput", "panelsJSON", "optionsJSON", "hits", "version", "sections"},
}
# Keys added after 8.8.0 (search model versions 1-5 and the 9.x tabs): not in a baseline object.
NEWER_SEARCH_KEYS = {"sampleSize", "headerRowHeight", "visContext", "density", "tabs"}
JSON_STRINGS = {
    "index-pattern": ("fields", "fieldAttrs", "fieldFormatMap", "runtimeFieldMap", "sourceFilters", "typeMeta"),
    "dashboard": ("panelsJSON", "optionsJSON"),
}
# Kept when an export is normalised; the rest (updated_at, version, namespaces, created_by ...) changes
# on every save and would make every export a diff.
EXPORT_KEYS = ("attributes", "coreMigrationVersion", "id", "references", "type", "typeMigrationVersion")

RECORDS = "___records___"  # Lens's "count of documents" pseudo-field
AGGREGATED_OPERATIONS = {"terms", "date_histogram", "average", "sum", "min", "max", "median", "unique_count",
                         "percentile", "last_value", "range"}
AGGREGATABLE_TYPES = {"keyword", "date", "long", "integer", "short", "byte", "float", "double", "half_float",
                      "scaled_float", "boolean", "ip"}
DATE_TYPES = {"date", "date_nanos"}


class ObjectsError(ValueError):
    """The objects file cannot be read at all (missing, or a line that is not JSON)."""


@dataclass(frozen=True)
class SavedObject:
    type: str
    id: str
    attributes: Mapping[str, Any]
    references: tuple[Mapping[str, str], ...]
    core_migration_version: str | None
    type_migration_version: str | None

    @property
    def title(self) -> str:
        return str(self.attributes.get("name") or self.attributes.get("title") or self.id)

    @property
    def label(self) -> str:
        return f"{self.type} {self.id}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "type": self.type, "attributes": copy.deepcopy(dict(self.attributes)),
                               "references": [dict(r) for r in self.references]}
        if self.core_migration_version:
            out["coreMigrationVersion"] = self.core_migration_version
        if self.type_migration_version:
            out["typeMigrationVersion"] = self.type_migration_version
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SavedObject:
        return cls(
            type=str(data.get("type", "")),
            id=str(data.get("id", "")),
            attributes=copy.deepcopy(dict(data.get("attributes") or {})),
            references=tuple(dict(r) for r in data.get("references") or ()),
            core_migration_version=data.get("coreMigrationVersion"),
            type_migration_version=data.get("typeMigrationVersion"),
        )


@dataclass(frozen=True)
class Problem:
    where: str  # the object (and panel) the problem is in
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


# ---------------------------------------------------------------------------------------------
# Reading and writing


def parse_ndjson(text: str, origin: str) -> list[SavedObject]:
    """Objects from NDJSON text; Kibana's export-details line (``exportedCount`` ...) is skipped."""
    objects: list[SavedObject] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ObjectsError(f"{origin} line {number}: not JSON: {exc.msg} at column {exc.colno}") from exc
        if not isinstance(data, dict):
            raise ObjectsError(f"{origin} line {number}: a saved object is a JSON object, got {type(data).__name__}")
        if "exportedCount" in data and "type" not in data:
            continue
        objects.append(SavedObject.from_dict(data))
    return objects


def load(path: Path = SHIPPED) -> list[SavedObject]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ObjectsError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return parse_ndjson(text, str(path))


def to_ndjson(objects: Iterable[SavedObject]) -> str:
    """One object per line, keys sorted, so a re-export of an unchanged object is byte-identical."""
    return "".join(
        json.dumps(o.to_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n" for o in objects
    )


# ---------------------------------------------------------------------------------------------
# Index names: the shipped file names the default indices; setup points them at the configured ones


def index_names(settings: Settings) -> dict[str, str]:
    names = IndexNames(settings.elasticsearch.index_prefix)
    return {ARTICLES: names.read_alias, RUNS: settings.elasticsearch.runs_index, DEADLETTERS: names.deadletter}


def default_index_names() -> dict[str, str]:
    return index_names(Settings())


def retarget(objects: Sequence[SavedObject], source: Mapping[str, str], target: Mapping[str, str]) -> list[SavedObject]:
    """The objects with each data view's title, and each Vega spec's index, moved from ``source[role]``
    to ``target[role]``."""
    role_of = {index: role for role, index in source.items()}
    out: list[SavedObject] = []
    for obj in objects:
        if obj.type == "index-pattern" and obj.id in VIEW_INDEX:
            obj = _with_attributes(obj, title=target[VIEW_INDEX[obj.id]])
        elif obj.type == "dashboard" and "panelsJSON" in obj.attributes:
            items = panels(obj)
            for panel in items:
                spec = vega_spec(panel)
                url = (spec or {}).get("data", {}).get("url", {})
                if spec is not None and url.get("index") in role_of:
                    url["index"] = target[role_of[url["index"]]]
                    panel["embeddableConfig"]["savedVis"]["params"]["spec"] = json.dumps(
                        spec, indent=2, ensure_ascii=False)
            obj = _with_attributes(obj, panelsJSON=json.dumps(items, separators=(",", ":"), ensure_ascii=False))
        out.append(obj)
    return out


def for_settings(objects: Sequence[SavedObject], settings: Settings) -> list[SavedObject]:
    """What `chancery kibana setup` imports: the objects on this installation's index names."""
    return retarget(objects, default_index_names(), index_names(settings))


def _role_of_index() -> dict[str, str]:
    return {index: role for role, index in default_index_names().items()}


def _with_attributes(obj: SavedObject, **changes: Any) -> SavedObject:
    return SavedObject(obj.type, obj.id, {**obj.attributes, **changes}, obj.references,
                       obj.core_migration_version, obj.type_migration_version)


def normalise_export(
    exported: Sequence[SavedObject], settings: Settings, order: Sequence[SavedObject]
) -> list[SavedObject]:
    """An export as it should be committed: shipped order, volatile keys gone, default index names."""
    by_key = {(o.type, o.id): o for o in exported}
    ordered = [by_key.pop((o.type, o.id)) for o in order if (o.type, o.id) in by_key]
    ordered += sorted(by_key.values(), key=lambda o: (o.type, o.id))  # objects new in Kibana go last
    return retarget(ordered, index_names(settings), default_index_names())


# ---------------------------------------------------------------------------------------------
# What a dashboard holds


def panels(obj: SavedObject) -> list[dict[str, Any]]:
    raw = obj.attributes.get("panelsJSON") or "[]"
    value = json.loads(raw) if isinstance(raw, str) else raw
    return list(value) if isinstance(value, list) else []


def panel_title(panel: Mapping[str, Any]) -> str:
    config = panel.get("embeddableConfig") or {}
    return str(panel.get("title") or config.get("title") or panel.get("panelIndex") or "?")


@dataclass(frozen=True)
class LensLayer:
    """One form-based Lens layer: its data view and its columns in execution order."""

    panel: str  # the panel's title
    data_view: str | None
    columns: list[tuple[str, dict[str, Any]]]  # (column id, column) in columnOrder
    visualization_type: str


def lens_layers(panel: Mapping[str, Any]) -> Iterator[LensLayer]:
    if panel.get("type") != "lens":
        return
    attributes = (panel.get("embeddableConfig") or {}).get("attributes") or {}
    references = {r.get("name"): r.get("id") for r in attributes.get("references") or ()}
    datasources = (attributes.get("state") or {}).get("datasourceStates") or {}
    layers = (datasources.get("formBased") or {}).get("layers") or {}
    for layer_id, layer in layers.items():
        columns = layer.get("columns") or {}
        order = layer.get("columnOrder") or list(columns)
        yield LensLayer(
            panel=panel_title(panel),
            data_view=references.get(f"indexpattern-datasource-layer-{layer_id}"),
            columns=[(cid, columns[cid]) for cid in order if cid in columns],
            visualization_type=str(attributes.get("visualizationType") or ""),
        )


def vega_spec(panel: Mapping[str, Any]) -> dict[str, Any] | None:
    """The parsed Vega spec of a by-value Vega panel (written as strict JSON, which is valid HJSON)."""
    saved = (panel.get("embeddableConfig") or {}).get("savedVis") or {}
    if panel.get("type") != "visualization" or saved.get("type") != "vega":
        return None
    spec = json.loads((saved.get("params") or {}).get("spec") or "{}")
    return spec if isinstance(spec, dict) else None


def vega_fields(spec: Mapping[str, Any]) -> set[str]:
    """Every ``field`` an aggregation of the spec's request body names."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "field" and isinstance(value, str):
                    found.add(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(((spec.get("data") or {}).get("url") or {}).get("body") or {})
    return found


def search_source(obj: SavedObject) -> dict[str, Any]:
    meta = obj.attributes.get("kibanaSavedObjectMeta") or {}
    raw = meta.get("searchSourceJSON") or "{}"
    value = json.loads(raw) if isinstance(raw, str) else raw
    return dict(value) if isinstance(value, dict) else {}


def search_query(obj: SavedObject) -> str:
    query = search_source(obj).get("query") or {}
    return str(query.get("query") or "")


def data_view_of(obj: SavedObject) -> str | None:
    source = search_source(obj)
    ref = source.get("indexRefName")
    return next((r.get("id") for r in obj.references if r.get("name") == ref), None)


def runtime_fields(view: SavedObject) -> dict[str, dict[str, Any]]:
    raw = view.attributes.get("runtimeFieldMap") or "{}"
    value = json.loads(raw) if isinstance(raw, str) else raw
    return dict(value) if isinstance(value, dict) else {}


# ---------------------------------------------------------------------------------------------
# The fields each index has, from the mappings in pipeline.index.mapping


@dataclass(frozen=True)
class IndexField:
    type: str
    aggregatable: bool
    nested: bool = False  # under a nested path: KQL reaches it, Lens does not


@dataclass(frozen=True)
class IndexFields:
    fields: Mapping[str, IndexField]
    dynamic_long: tuple[str, ...] = ()  # object paths whose numeric sub-fields a dynamic template maps as long

    def get(self, name: str) -> IndexField | None:
        if name in self.fields:
            return self.fields[name]
        parent, _, leaf = name.rpartition(".")
        if parent in self.dynamic_long and leaf in _OUTCOME_VALUES:
            return IndexField("long", True)
        return None


_OUTCOME_VALUES = {o.value for o in Outcome}


def flatten(properties: Mapping[str, Any], prefix: str = "", nested: bool = False) -> dict[str, IndexField]:
    out: dict[str, IndexField] = {}
    for name, spec in properties.items():
        path = f"{prefix}{name}"
        kind = spec.get("type", "object")
        inside = nested or kind == "nested"
        if "properties" in spec:
            out[path] = IndexField(kind, False, inside)
            out.update(flatten(spec["properties"], f"{path}.", inside))
            continue
        indexed = spec.get("index", True) is not False and spec.get("enabled", True) is not False
        aggregatable = kind in AGGREGATABLE_TYPES and indexed and spec.get("doc_values", True) is not False
        out[path] = IndexField(kind, aggregatable, inside)
        for sub, sub_spec in (spec.get("fields") or {}).items():
            sub_kind = sub_spec.get("type", "object")
            out[f"{path}.{sub}"] = IndexField(sub_kind, sub_kind in AGGREGATABLE_TYPES, inside)
    return out


def index_fields() -> dict[str, IndexFields]:
    """The fields of each index role, as Elasticsearch will report them (field_caps)."""
    runs_dynamic = tuple(
        template[name]["path_match"].removesuffix(".*")
        for template in RUNS_MAPPINGS.get("dynamic_templates", [])
        for name in template
        if template[name].get("mapping", {}).get("type") == "long"
    )
    return {
        ARTICLES: IndexFields(flatten(article_properties())),
        RUNS: IndexFields(flatten(RUNS_MAPPINGS["properties"]), runs_dynamic),
        DEADLETTERS: IndexFields(flatten(DEADLETTER_MAPPINGS["properties"])),
    }


# ---------------------------------------------------------------------------------------------
# The check


@dataclass
class _Context:
    objects: Sequence[SavedObject]
    fields: Mapping[str, IndexFields]
    problems: list[Problem] = field(default_factory=list)

    def add(self, where: str, message: str) -> None:
        self.problems.append(Problem(where, message))

    def view(self, view_id: str | None) -> SavedObject | None:
        return next((o for o in self.objects if o.type == "index-pattern" and o.id == view_id), None)

    def view_fields(self, view_id: str | None) -> tuple[IndexFields | None, dict[str, dict[str, Any]]]:
        view = self.view(view_id)
        if view is None or view.id not in VIEW_INDEX:
            return None, {}
        return self.fields[VIEW_INDEX[view.id]], runtime_fields(view)


def check(objects: Sequence[SavedObject], fields: Mapping[str, IndexFields] | None = None) -> list[Problem]:
    """Every problem found in ``objects``; an empty list means they are fit to ship."""
    ctx = _Context(objects, fields or index_fields())
    seen: set[tuple[str, str]] = set()
    for obj in objects:
        key = (obj.type, obj.id)
        if key in seen or any(o.id == obj.id and o.type != obj.type for o in objects):
            ctx.add(obj.label, "id is not unique")
        seen.add(key)
        _check_envelope(ctx, obj)
        _check_references(ctx, obj)
        if obj.type == "index-pattern":
            _check_data_view(ctx, obj)
        elif obj.type == "search":
            _check_search(ctx, obj)
        elif obj.type == "dashboard":
            _check_dashboard(ctx, obj)
    return ctx.problems


def _version(text: str | None) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in (text or "0").split("."))
    except ValueError:
        return (0,)


def _check_envelope(ctx: _Context, obj: SavedObject) -> None:
    if obj.type not in ALLOWED:
        ctx.add(obj.label, f"type {obj.type!r} is not one Chancery ships ({', '.join(sorted(ALLOWED))})")
        return
    if not obj.id:
        ctx.add(obj.label, "no id: the objects need fixed ids so a re-import overwrites them")
    missing = REQUIRED[obj.type] - set(obj.attributes)
    if missing and not (obj.type == "search" and "tabs" in obj.attributes and "title" in obj.attributes):
        ctx.add(obj.label, f"attributes {sorted(missing)} are required")
    unknown = set(obj.attributes) - ALLOWED[obj.type]
    if unknown:
        ctx.add(obj.label, f"attributes {sorted(unknown)} are not in Kibana's {obj.type} schema")
    baseline = BASELINE_TYPE_VERSIONS[obj.type]
    if not obj.type_migration_version:
        ctx.add(obj.label, "no typeMigrationVersion: Kibana would take it for a 7.x object and migrate it from 7.0")
    elif _version(obj.type_migration_version) > _version(baseline):
        ctx.add(obj.label, f"typeMigrationVersion {obj.type_migration_version} is newer than {baseline}, so "
                           f"Kibana before that version refuses it and the range '{KIBANA_RANGE}' no longer holds "
                           f"(an export from a newer Kibana); keep the change only if the range moves up too")
    if obj.type == "search" and _version(obj.type_migration_version) <= _version(baseline):
        newer = NEWER_SEARCH_KEYS & set(obj.attributes)
        if newer:
            ctx.add(obj.label, f"attributes {sorted(newer)} need a newer typeMigrationVersion than {baseline}")
    if obj.core_migration_version is None:
        ctx.add(obj.label, "no coreMigrationVersion")
    for name in JSON_STRINGS.get(obj.type, ()):
        value = obj.attributes.get(name)
        if value is not None and not _is_json_string(value):
            ctx.add(obj.label, f"{name} must be a JSON-encoded string, as Kibana stores it")
    meta = obj.attributes.get("kibanaSavedObjectMeta")
    if meta is not None and not _is_json_string((meta or {}).get("searchSourceJSON")):
        ctx.add(obj.label, "kibanaSavedObjectMeta.searchSourceJSON must be a JSON-encoded string")


def _is_json_string(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        json.loads(value)
    except json.JSONDecodeError:
        return False
    return True


def _check_references(ctx: _Context, obj: SavedObject) -> None:
    known = {(o.type, o.id) for o in ctx.objects}
    names = [r.get("name") for r in obj.references]
    for ref in obj.references:
        if (ref.get("type"), ref.get("id")) not in known:
            ctx.add(obj.label, f"reference {ref.get('name')} → {ref.get('type')} {ref.get('id')} is not in the file")
    if len(names) != len(set(names)):
        ctx.add(obj.label, "two references have the same name")
    wanted = _wanted_references(obj)
    by_name = {r.get("name"): r for r in obj.references}
    for wanted_name, (kind, ref_id) in wanted.items():
        found = by_name.get(wanted_name)
        if found is None:
            ctx.add(obj.label, f"no reference named {wanted_name} (Kibana resolves the {kind} through it)")
        elif found.get("type") != kind or (ref_id is not None and found.get("id") != ref_id):
            ctx.add(obj.label, f"reference {wanted_name} points at {found.get('type')} {found.get('id')}, "
                               f"the panel names {kind} {ref_id}")
    for unused in sorted(str(n) for n in set(by_name) - set(wanted)):
        ctx.add(obj.label, f"reference {unused} is not used by any attribute")


def _wanted_references(obj: SavedObject) -> dict[str, tuple[str, str | None]]:
    """Reference name → (type, id or None) that the attributes point through."""
    wanted: dict[str, tuple[str, str | None]] = {}
    if obj.type == "search":
        ref = search_source(obj).get("indexRefName")
        if ref:
            wanted[str(ref)] = ("index-pattern", None)
    if obj.type == "dashboard":
        for panel in panels(obj):
            index = panel.get("panelIndex")
            if panel.get("panelRefName"):
                wanted[f"{index}:{panel['panelRefName']}"] = (str(panel.get("type")), None)
            attributes = (panel.get("embeddableConfig") or {}).get("attributes") or {}
            for ref in attributes.get("references") or ():
                wanted[f"{index}:{ref.get('name')}"] = (str(ref.get("type")), ref.get("id"))
    return wanted


def _check_data_view(ctx: _Context, obj: SavedObject) -> None:
    role = VIEW_INDEX.get(obj.id)
    if role is None:
        ctx.add(obj.label, f"not one of the data views Chancery knows ({', '.join(VIEW_INDEX)})")
        return
    expected = default_index_names()[role]
    if obj.attributes.get("title") != expected:
        ctx.add(obj.label, f"title {obj.attributes.get('title')!r} is not the index it must read, {expected!r}")
    time_field = obj.attributes.get("timeFieldName")
    found = ctx.fields[role].get(str(time_field))
    if found is None or found.type not in DATE_TYPES:
        ctx.add(obj.label, f"time field {time_field!r} is not a date field of {expected}")
    index_fields_, runtime = ctx.fields[role], runtime_fields(obj)
    for section in ("fieldAttrs", "fieldFormatMap"):
        for name in json.loads(obj.attributes.get(section) or "{}"):
            if index_fields_.get(name) is None and name not in runtime:
                ctx.add(obj.label, f"{section} names {name!r}, which {expected} does not have")
    for name, spec in runtime.items():
        if index_fields_.get(name) is not None:
            ctx.add(obj.label, f"runtime field {name!r} would shadow the mapped field")
        if spec.get("type") not in AGGREGATABLE_TYPES:
            ctx.add(obj.label, f"runtime field {name!r} has type {spec.get('type')!r}")


def _check_field(ctx: _Context, where: str, view_id: str | None, name: str, aggregated: bool, lens: bool) -> None:
    fields_, runtime = ctx.view_fields(view_id)
    if fields_ is None:
        ctx.add(where, f"data view {view_id!r} is not one of the shipped data views")
        return
    if name in runtime:
        return
    found = fields_.get(name)
    if found is None:
        ctx.add(where, f"field {name!r} is not in the mapping of {VIEW_INDEX[str(view_id)]}")
    elif aggregated and not found.aggregatable:
        ctx.add(where, f"field {name!r} ({found.type}) is aggregated but not aggregatable")
    elif lens and found.nested:
        ctx.add(where, f"field {name!r} is inside a nested object, which Lens cannot use; use a KQL filter")


def _check_kql(ctx: _Context, where: str, view_id: str | None, query: str) -> None:
    try:
        names = kql.fields(query)
    except kql.KqlError as exc:
        ctx.add(where, f"KQL not understood: {exc}")
        return
    for name in sorted(names):
        _check_field(ctx, where, view_id, name, aggregated=False, lens=False)


def _check_search(ctx: _Context, obj: SavedObject) -> None:
    view_id = data_view_of(obj)
    if ctx.view(view_id) is None:
        ctx.add(obj.label, "its searchSourceJSON.indexRefName does not lead to a shipped data view")
        return
    _check_kql(ctx, obj.label, view_id, search_query(obj))
    for column in obj.attributes.get("columns") or ():
        _check_field(ctx, f"{obj.label} column", view_id, str(column), aggregated=False, lens=False)
    for sort in obj.attributes.get("sort") or ():
        if isinstance(sort, list) and sort:
            _check_field(ctx, f"{obj.label} sort", view_id, str(sort[0]), aggregated=True, lens=False)


def _check_dashboard(ctx: _Context, obj: SavedObject) -> None:
    items = panels(obj)
    if not items:
        ctx.add(obj.label, "has no panels")
    indices = [p.get("panelIndex") for p in items]
    if len(indices) != len(set(indices)):
        ctx.add(obj.label, "two panels share a panelIndex")
    for panel in items:
        where = f"{obj.label} panel {panel_title(panel)!r}"
        grid = panel.get("gridData") or {}
        if grid.get("i") != panel.get("panelIndex") or not all(isinstance(grid.get(k), int) for k in "xywh"):
            ctx.add(where, "gridData needs x, y, w, h and i equal to panelIndex")
        elif grid["x"] + grid["w"] > 48:
            ctx.add(where, "is wider than the 48-column grid")
        kind = panel.get("type")
        if kind == "lens":
            layers = list(lens_layers(panel))
            if not layers:
                ctx.add(where, "a Lens panel without a form-based layer")
            for layer in layers:
                _check_lens_layer(ctx, where, layer)
        elif kind == "visualization":
            spec = vega_spec(panel)
            if spec is None:
                ctx.add(where, "only Vega visualizations are shipped by value besides Lens")
            else:
                _check_vega(ctx, where, spec)
        elif kind == "search":
            if not panel.get("panelRefName"):
                ctx.add(where, "a saved-search panel needs a panelRefName")
        else:
            ctx.add(where, f"panel type {kind!r} is not one Chancery ships")


def _check_lens_layer(ctx: _Context, where: str, layer: LensLayer) -> None:
    if ctx.view(layer.data_view) is None:
        ctx.add(where, f"its layer reference leads to {layer.data_view!r}, not a shipped data view")
        return
    ids = {cid for cid, _ in layer.columns}
    for cid, column in layer.columns:
        operation = column.get("operationType")
        source = column.get("sourceField")
        if operation == "count" and source == RECORDS:
            pass
        elif source:
            _check_field(ctx, where, layer.data_view, str(source), operation in AGGREGATED_OPERATIONS, lens=True)
        elif operation == "filters":
            for item in (column.get("params") or {}).get("filters") or ():
                _check_kql(ctx, where, layer.data_view, str((item.get("input") or {}).get("query") or ""))
        else:
            ctx.add(where, f"column {cid} ({operation}) has no source field")
        order = (column.get("params") or {}).get("orderBy") or {}
        if order.get("type") == "column" and order.get("columnId") not in ids:
            ctx.add(where, f"column {cid} is ordered by a column the layer does not have")


def _check_vega(ctx: _Context, where: str, spec: Mapping[str, Any]) -> None:
    url = (spec.get("data") or {}).get("url") or {}
    role = _role_of_index().get(str(url.get("index")))
    if role is None:
        ctx.add(where, f"the Vega spec reads {url.get('index')!r}, not one of {sorted(_role_of_index())}")
        return
    fields_ = ctx.fields[role]
    time_field = url.get("%timefield%")
    found_time = fields_.get(str(time_field))
    if found_time is None or found_time.type not in DATE_TYPES:
        ctx.add(where, f"the Vega %timefield% {time_field!r} is not a date field")
    for name in sorted(vega_fields(spec)):
        found = fields_.get(name)
        if found is None:
            ctx.add(where, f"the Vega request aggregates {name!r}, which the mapping neither has nor maps dynamically")
        elif not found.aggregatable:
            ctx.add(where, f"the Vega request aggregates {name!r} ({found.type}), which is not aggregatable")
