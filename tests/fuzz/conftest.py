"""The fuzz suite keeps hypothesis' files (its cache of constants mined from the code, a failing
example's patch) in the system's temporary directory, not in the working tree."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis.configuration import set_hypothesis_home_dir

set_hypothesis_home_dir(str(Path(tempfile.gettempdir()) / "chancery-hypothesis"))
