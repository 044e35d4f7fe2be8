"""Reading the project's YAML data files, failing loudly with the file and entry named.

Gazetteer, taxonomy and publisher files hold no logic; their loaders check every entry and
raise ``DataFileError`` on the first one that cannot be used, so a typo never becomes a
silently missing entity, topic or publisher rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader when libyaml is there: 10x faster


class DataFileError(ValueError):
    """A data file that cannot be used, with the file and entry named."""

    def __init__(self, path: Path | str, entry: str, problem: str) -> None:
        self.path = str(path)
        self.entry = entry
        self.problem = problem
        super().__init__(f"{path}: {entry}: {problem}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (DataFileError, (self.path, self.entry, self.problem))


def read_yaml(path: Path) -> dict[str, Any]:
    """The top-level mapping of a YAML file; a missing file or bad YAML is a ``DataFileError``."""
    if not path.is_file():
        raise DataFileError(path, "(file)", "missing")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise DataFileError(path, "(file)", f"not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise DataFileError(path, "(file)", "expected a mapping at the top level")
    return data
