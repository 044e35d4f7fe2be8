"""The `chancery` command: one sub-command module per job, registered below in order.

Each module exposes ``register(subparsers)``; the parser it adds sets ``run``,
a function ``run(args, settings) -> int`` whose return value is the exit code
(0 done; anything else means something named failed).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from pipeline import __version__
from pipeline.config import SettingsError, load_settings
from pipeline.state import StateUnavailable
from pipeline.urls import mask_urls

# The order is the order of `chancery --help`.
COMMAND_MODULES = (
    "pipeline.cli.config_cmd",
    "pipeline.cli.engine_cmd",
    "pipeline.cli.index_cmd",
    "pipeline.cli.kibana_cmd",
    "pipeline.cli.process_cmd",
    "pipeline.cli.search_cmd",
    "pipeline.cli.fetch_cmd",
    "pipeline.cli.backfill_cmd",
    "pipeline.cli.captures_cmd",
    "pipeline.cli.deadletters_cmd",
    "pipeline.cli.demo_cmd",
    "pipeline.cli.airflow_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chancery", description="Diplomacy news ingestion and search.")
    parser.add_argument("--version", action="version", version=f"chancery {__version__}")
    parser.add_argument("--home", help="state directory (CHANCERY_HOME)")
    parser.add_argument("--es-url", dest="es_url", help="Elasticsearch URL (ELASTICSEARCH_URL)")
    parser.add_argument("--log-level", default="INFO")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a missing dependency, not a command still to be written
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from pipeline.logs import setup_logging

    setup_logging(args.log_level)
    try:
        # A sub-command may turn its own flags into settings (e.g. `engine start --port`).
        overrides_of = getattr(args, "setting_overrides", None)
        command_overrides: dict[str, object] = overrides_of(args) if overrides_of else {}
        settings = load_settings(
            overrides={"home": args.home, "elasticsearch.url": args.es_url, **command_overrides}
        )
    except SettingsError as exc:
        print(f"chancery: bad setting: {exc}", file=sys.stderr)
        return 2
    try:
        return int(args.run(args, settings))
    except KeyboardInterrupt:
        print("chancery: interrupted", file=sys.stderr)
        return 130
    except StateUnavailable as exc:  # a missing prerequisite, like an engine that is not running
        print(f"chancery {args.command}: {exc}", file=sys.stderr)
        return 3
    except Exception as exc:  # the last line of defence: name the failure, never a bare traceback
        logging.getLogger("chancery").debug("command failed", exc_info=True)
        print(f"chancery {args.command}: {type(exc).__name__}: {mask_urls(str(exc))}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
