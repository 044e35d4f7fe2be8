"""`chancery kibana setup|export|check`: the shipped data views, saved searches and dashboards.

- ``setup`` checks the objects, points them at this installation's index names and imports them
  with the Saved Objects import API (``overwrite=true``), then reports each object: created,
  overwritten, or failed with Kibana's reason. Running it again overwrites the same ids.
- ``export`` fetches the same objects back from Kibana and writes them as NDJSON (by default over
  the shipped file), so a dashboard edited in Kibana can be committed.
- ``check`` validates a file offline against the index mappings (no Kibana, no engine).

Exit codes: 0 done; 1 Kibana refused something, or the objects have problems; 3 no Kibana
configured, or Kibana unreachable or not ready.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pipeline.config import Settings

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_UNREACHABLE = 3


def register(sub: Any) -> None:
    from pipeline.kibana.objects import KIBANA_RANGE, SHIPPED

    kibana = sub.add_parser(
        "kibana",
        help="import, export or check the shipped Kibana data views, saved searches and dashboards",
        description=f"Saved objects for {KIBANA_RANGE}. Settings: KIBANA_URL, KIBANA_USERNAME/KIBANA_PASSWORD "
        "or KIBANA_API_KEY, KIBANA_SPACE.",
    )
    actions = kibana.add_subparsers(dest="kibana_action", required=True, metavar="ACTION")
    setup = actions.add_parser("setup", help="import the objects into Kibana (idempotent: overwrites the same ids)")
    setup.add_argument("--file", type=Path, default=SHIPPED, help="NDJSON to import (default: the shipped objects)")
    setup.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                       help="wait up to this long for Kibana to be available first (docker compose start-up)")
    setup.set_defaults(run=run_setup)
    export = actions.add_parser("export", help="write the objects as Kibana holds them back to NDJSON")
    export.add_argument("-o", "--output", type=Path, default=SHIPPED,
                        help="where to write (default: the shipped file, ready to commit)")
    export.set_defaults(run=run_export)
    check = actions.add_parser("check", help="validate the objects offline against the index mappings")
    check.add_argument("--file", type=Path, default=SHIPPED, help="NDJSON to check (default: the shipped objects)")
    check.set_defaults(run=run_check)


def _fail(action: str, message: str) -> None:
    print(f"chancery kibana {action}: {message}", file=sys.stderr)


def _load_checked(action: str, path: Path) -> list[Any] | None:
    from pipeline.kibana.objects import ObjectsError, check, load

    try:
        objects = load(path)
    except ObjectsError as exc:
        _fail(action, str(exc))
        return None
    problems = check(objects)
    if problems:
        _fail(action, f"{len(problems)} problem(s) in {path}:")
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return None
    return objects


def run_check(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.kibana.objects import KIBANA_RANGE

    objects = _load_checked("check", args.file)
    if objects is None:
        return EXIT_FAILED
    kinds: dict[str, int] = {}
    for obj in objects:
        kinds[obj.type] = kinds.get(obj.type, 0) + 1
    summary = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    print(f"{args.file}: {len(objects)} objects ({summary}) check out for {KIBANA_RANGE}")
    return EXIT_OK


def run_setup(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console
    from rich.table import Table

    from pipeline.kibana.api import ImportOutcome, KibanaClient, KibanaError, KibanaNotConfigured, KibanaUnreachable
    from pipeline.kibana.links import dashboard_url, health_dashboard_url
    from pipeline.kibana.objects import for_settings

    objects = _load_checked("setup", args.file)
    if objects is None:
        return EXIT_FAILED
    console = Console()
    try:
        with KibanaClient(settings.kibana) as kibana:
            if args.wait > 0:
                with console.status(f"Waiting for {kibana.where} …") as status:
                    kibana.wait_until_available(args.wait, progress=lambda why: status.update(f"Waiting: {why}"))
            report = kibana.import_objects(for_settings(objects, settings))
    except (KibanaNotConfigured, KibanaUnreachable) as exc:
        _fail("setup", str(exc))
        return EXIT_UNREACHABLE
    except KibanaError as exc:
        _fail("setup", str(exc))
        return EXIT_FAILED
    table = Table(title=f"Kibana saved objects ({kibana.base})")
    for column in ("outcome", "type", "id", "title", "reason"):
        table.add_column(column)
    styles = {ImportOutcome.CREATED: "green", ImportOutcome.OVERWRITTEN: "cyan", ImportOutcome.FAILED: "red"}
    for result in report.results:
        table.add_row(f"[{styles[result.outcome]}]{result.outcome.value}[/]", result.type, result.id, result.title,
                      result.reason)
    console.print(table)
    counts = report.counts()
    console.print(", ".join(f"{n} {outcome}" for outcome, n in counts.items()))
    if report.failed:
        _fail("setup", f"{len(report.failed)} of {len(report.results)} objects failed; the reasons are above")
        return EXIT_FAILED
    console.print(f"Open: {dashboard_url(settings.kibana)}")
    console.print(f"      {health_dashboard_url(settings.kibana)}")
    return EXIT_OK


def run_export(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.kibana.api import KibanaClient, KibanaError, KibanaNotConfigured, KibanaUnreachable
    from pipeline.kibana.objects import ObjectsError, check, load, normalise_export, parse_ndjson, to_ndjson

    try:
        shipped = load()
    except ObjectsError as exc:
        _fail("export", str(exc))
        return EXIT_FAILED
    try:
        with KibanaClient(settings.kibana) as kibana:
            text = kibana.export_objects([(o.type, o.id) for o in shipped])
            exported = parse_ndjson(text, f"the export from {kibana.base}")
    except (KibanaNotConfigured, KibanaUnreachable) as exc:
        _fail("export", str(exc))
        return EXIT_UNREACHABLE
    except (KibanaError, ObjectsError) as exc:
        _fail("export", str(exc))
        return EXIT_FAILED
    objects = normalise_export(exported, settings, shipped)
    args.output.write_text(to_ndjson(objects), encoding="utf-8")
    print(f"Wrote {len(objects)} objects to {args.output}")
    problems = check(objects)
    if problems:
        _fail("export", f"written, but not fit to ship as it is; {len(problems)} problem(s):")
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
