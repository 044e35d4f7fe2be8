"""The scale suites use the Airflow suites' harness (tests/airflow/af_harness.py) and tests/ingest_runs.py."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "airflow"))
