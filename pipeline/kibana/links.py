"""Links into Kibana: a run's articles in Discover, the shipped dashboards.

Shown in Airflow, stored in run reports and printed by the CLI, so any ``user:password@`` in
KIBANA_URL stays out (the browser asks). A space other than the default gets ``/s/<space>``.
"""

from __future__ import annotations

from urllib.parse import quote

from pipeline.config import KibanaSettings
from pipeline.kibana.objects import COVERAGE_DASHBOARD, HEALTH_DASHBOARD, RUN_SEARCH
from pipeline.urls import without_userinfo

# Articles are dated by publication, which can be years before the run that fetched them,
# so a run's link spans all time and filters on provenance.run_id (the Airflow run id).
RUN_TIME_RANGE = "(time:(from:'1990-01-01T00:00:00.000Z',to:now))"


def space_url(kibana_url: str, space: str | None = None) -> str:
    base = without_userinfo(kibana_url).rstrip("/")
    return f"{base}/s/{quote(space, safe='')}" if space and space != "default" else base


def kibana_discover_url(kibana_url: str, run_id: str, space: str | None = None) -> str:
    """Discover on the "Latest articles" saved search, filtered on one run's articles.

    ``run_id`` may be a UI placeholder such as ``{RUN_ID}``, which is kept as it is for Airflow to fill.
    Otherwise it is escaped for the KQL string, then for rison, then for the URL, in that order,
    because Kibana undoes them in the reverse order.
    """
    if run_id.startswith("{") and run_id.endswith("}"):
        value = run_id
    else:
        in_kql = run_id.replace("\\", "\\\\").replace('"', '\\"')
        in_rison = in_kql.replace("!", "!!").replace("'", "!'")
        value = quote(in_rison, safe="")
    app_state = f"(query:(language:kuery,query:'provenance.run_id:\"{value}\"'))"
    return f"{space_url(kibana_url, space)}/app/discover#/view/{RUN_SEARCH}?_g={RUN_TIME_RANGE}&_a={app_state}"


def dashboard_url(kibana: KibanaSettings, dashboard_id: str = COVERAGE_DASHBOARD) -> str | None:
    if not kibana.url:
        return None
    return f"{space_url(kibana.url, kibana.space)}/app/dashboards#/view/{dashboard_id}"


def health_dashboard_url(kibana: KibanaSettings) -> str | None:
    return dashboard_url(kibana, HEALTH_DASHBOARD)
