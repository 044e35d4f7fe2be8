"""`chancery airflow`: Airflow standalone for this checkout, set up and ready (no docker needed).

AIRFLOW_HOME lives under the state directory; dags/ and plugins/ are wired in;
examples are off; parallelism fits 2 cores; the DAG folder is rescanned every 30 s;
the database, pools and connections (Elasticsearch, Redis) are bootstrapped. The
UI URL and the login are printed before Airflow starts.
"""

from __future__ import annotations

import argparse
import os
import subprocess
from typing import Any

from pipeline.config import Settings


def register(sub: Any) -> None:
    parser = sub.add_parser("airflow", help="run Airflow standalone with Chancery's DAGs, pools and connections")
    parser.add_argument("--port", type=int, help="UI / REST port (CHANCERY_AIRFLOW_API_PORT, default 8080)")
    parser.add_argument("--print-env", action="store_true",
                        help="print the environment (export lines) for running other airflow commands, then exit")
    parser.add_argument("--pools-file", metavar="PATH",
                        help="write the pools as `airflow pools import` JSON to PATH, then exit (docker-compose)")
    parser.set_defaults(run=run, setting_overrides=lambda a: {"airflow.api_port": a.port})


def run(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.orchestrate.bootstrap import airflow_bin, airflow_environment, bootstrap, ensure_login, pools

    if args.pools_file:
        import json
        from pathlib import Path

        Path(args.pools_file).write_text(json.dumps(pools(settings), indent=2), encoding="utf-8")
        return 0
    env = airflow_environment(settings, os.environ)  # the CLI is the edge: it hands its environment to Airflow
    if args.print_env:
        for key in sorted(k for k in env if k.startswith(("AIRFLOW", "CHANCERY_", "ELASTICSEARCH_"))):
            print(f"export {key}={_shell_quote(env[key])}")
        return 0
    bootstrap(settings, env)
    user, password = ensure_login(settings)
    print(f"Airflow UI: http://127.0.0.1:{settings.airflow.api_port}/  login: {user} / {password}")
    print(f"AIRFLOW_HOME={settings.airflow_home}  (other airflow commands: eval \"$(chancery airflow --print-env)\")")
    try:
        return subprocess.call([airflow_bin(), "standalone"], env=env)
    except KeyboardInterrupt:
        return 130


def _shell_quote(value: str) -> str:
    import shlex

    return shlex.quote(value)
