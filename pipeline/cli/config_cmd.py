"""`chancery config`: print the effective settings, secrets masked."""

from __future__ import annotations

import argparse
import json
from typing import Any

from pipeline.config import Settings, as_printable


def register(sub: Any) -> None:
    parser = sub.add_parser("config", help="print the effective settings (secrets masked)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    print(json.dumps(as_printable(settings), indent=2))
    return 0
