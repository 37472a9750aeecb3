"""Reading an admin's YAML file, with errors that name the file and the line.

Why its own module: the settings and the pure routing configuration both read YAML files; this
one imports only PyYAML and the exceptions root, so pure packages may use it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from gateway.errors import ConfigError


def read_yaml(path: str | Path) -> Any:
    """A YAML file's content, or ConfigError naming the file (and the line, for bad YAML)."""
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError([f"{path}:{line}: {problem}"]) from None
