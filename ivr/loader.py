"""Reading menu files (config/ivr/*.yaml) into the model, keeping every key's line number.

Why not ``yaml.safe_load``: an admin fixing a menu needs the line of each mistake, and
safe_load forgets lines and silently keeps the last of two equal keys (two nodes called
``main``). Here the file is composed once; the node tree gives the lines (a :class:`SourceMap`)
and duplicate keys, the constructed data goes to pydantic, and pydantic's errors come back as
:class:`~ivr.model.Problem` with file, node and line. ``parse_menu`` raises nothing on bad
input. ``compose`` (the data, its lines and its keys' problems) serves other admin files too
(the appeals topics file).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ivr.model import NODE_MODELS, Menu, NodeKind, Problem

_KINDS = ", ".join(NodeKind)
# Keys YAML 1.1 turns into something other than text (``yes:``, ``no:``, ``null:``).
_NOT_TEXT = {"tag:yaml.org,2002:bool": "true or false", "tag:yaml.org,2002:null": "nothing (null)"}


@dataclass(slots=True)
class _Lines:
    line: int
    children: dict[str | int, _Lines] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SourceMap:
    """Line numbers (1-based) of the keys and list items in a YAML file."""

    root: _Lines

    def line(self, path: tuple[str | int, ...]) -> int:
        """The line of ``path`` (e.g. ``("nodes", "main", "options", 1, "key")``), or of its
        nearest parent that is in the file (a missing field: the line of its node)."""
        here = self.root
        for part in path:
            child = here.children.get(part)
            if child is None and isinstance(part, int):
                child = here.children.get(str(part))
            if child is None:
                break
            here = child
        return here.line


@dataclass(frozen=True, slots=True)
class LoadedMenu:
    """A menu that has the right shape, with where it came from (for the validator)."""

    file: str
    menu: Menu
    source: SourceMap

    def line(self, node: str | None, *path: str | int) -> int:
        return self.source.line(("nodes", node, *path) if node is not None else path)


# A YAML file of this many keys and items is not a hand-written configuration (aliases that
# refer to each other can make a small text expand without end).
MAX_ENTRIES = 100_000


class NotYaml(ValueError):
    """Text that is not one YAML document of data; ``line`` (1-based) where known."""

    def __init__(self, line: int | None, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


@dataclass(frozen=True, slots=True)
class KeyProblem:
    """A key YAML would read wrongly: twice in one mapping, or not text (``yes:``)."""

    path: tuple[str | int, ...]  # the mapping that holds the key
    key: str
    line: int
    message: str


@dataclass(frozen=True, slots=True)
class Composed:
    """A YAML document's data, the line of every key and item, and its keys' problems."""

    data: Any
    source: SourceMap
    key_problems: tuple[KeyProblem, ...]


def _scan(
    node: yaml.Node, path: tuple[str | int, ...], problems: list[KeyProblem], budget: list[int]
) -> _Lines:
    budget[0] -= 1
    if budget[0] < 0:
        raise NotYaml(node.start_mark.line + 1, f"more than {MAX_ENTRIES} keys and items")
    here = _Lines(node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else "?"
            line = key.start_mark.line + 1
            if key.tag in _NOT_TEXT:
                problems.append(
                    KeyProblem(
                        path,
                        name,
                        line,
                        f"YAML reads the key {name!r} as {_NOT_TEXT[key.tag]}: quote it",
                    )
                )
            if name in here.children:
                first = here.children[name].line
                problems.append(
                    KeyProblem(
                        path,
                        name,
                        line,
                        f"duplicate key {name!r} (first on line {first}); "
                        "YAML would keep only the last one",
                    )
                )
                continue
            child = _scan(value, (*path, name), problems, budget)
            child.line = line
            here.children[name] = child
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            here.children[index] = _scan(item, (*path, index), problems, budget)
    return here


def compose(text: str) -> Composed:
    """The data of one YAML document with its lines; NotYaml for text that is not one
    (``the file is empty`` for nothing at all)."""
    try:
        loader = yaml.SafeLoader(text)  # refuses control characters at once
    except yaml.YAMLError as exc:
        raise NotYaml(1, f"not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    try:
        root = loader.get_single_node()
        if root is None:
            raise NotYaml(1, "the file is empty")
        data = loader.construct_document(root)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        reason = getattr(exc, "problem", None) or "not valid YAML"
        raise NotYaml(mark.line + 1 if mark else None, f"not valid YAML: {reason}") from None
    finally:
        loader.dispose()
    problems: list[KeyProblem] = []
    try:
        lines = _scan(root, (), problems, [MAX_ENTRIES])
    except RecursionError:
        raise NotYaml(1, "nested too deeply (or an alias that contains itself)") from None
    return Composed(data, SourceMap(lines), tuple(problems))


def _kind_fields(kind: str) -> str:
    model = NODE_MODELS.get(NodeKind(kind)) if kind in NodeKind._value2member_map_ else None
    return ", ".join(name for name in model.model_fields if name != "kind") if model else ""


def _location(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker for a bad mapping key
            out += " (the key)"
        elif isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _relevant(errors: list[Any]) -> list[Any]:
    """Drop "too short" for a list whose items have errors of their own (it only counts the
    items that passed)."""
    locs = [tuple(e["loc"]) for e in errors]
    return [
        e
        for e in errors
        if e["type"] != "too_short"
        or not any(
            len(other) > len(e["loc"]) and other[: len(e["loc"])] == tuple(e["loc"])
            for other in locs
        )
    ]


def _problem(file: str, source: SourceMap, error: Any) -> Problem:
    """A pydantic error as the admin should read it: node, line, field and plain words."""
    loc: tuple[str | int, ...] = tuple(error["loc"])
    node: str | None = None
    kind = ""
    if len(loc) >= 2 and loc[0] == "nodes":
        node = str(loc[1])
        if len(loc) >= 3 and isinstance(loc[2], str) and loc[2] in NodeKind._value2member_map_:
            kind = loc[2]
            loc = (*loc[:2], *loc[3:])  # the discriminated union adds the kind to the path
        where = _location(loc[2:])
    else:
        where = _location(loc)
    message = str(error["msg"]).removeprefix("Value error, ")
    name = str(loc[-1]) if loc else ""
    match error["type"]:
        case "extra_forbidden":
            allowed = _kind_fields(kind) if kind and len(loc) == 3 else ""
            if not node and len(loc) == 1:
                allowed = ", ".join(Menu.model_fields)
            message = f"unknown field {name!r}" + (
                f" (a {kind or 'menu'} takes: {allowed})" if allowed else ""
            )
            where = _location(loc[2:-1]) if node else _location(loc[:-1])
        case "missing":
            message = f"missing field {name!r}"
            where = _location(loc[2:-1]) if node else _location(loc[:-1])
        case "union_tag_invalid":
            message = f"unknown node kind {error['ctx']['tag']!r} (one of: {_KINDS})"
        case "union_tag_not_found":
            message = f"a node needs a 'kind' (one of: {_KINDS})"
    text = f"{where}: {message}" if where else message
    return Problem(file, node, source.line(loc), text)


def _key_problem(file: str, problem: KeyProblem) -> Problem:
    path = problem.path
    owner = str(path[1]) if len(path) >= 2 and path[0] == "nodes" else None
    if path == ("nodes",):
        owner = problem.key
    return Problem(file, owner, problem.line, problem.message)


def parse_menu(text: str, file: str) -> LoadedMenu | list[Problem]:
    """A menu from YAML text, or every problem with its shape (``file`` names it in them)."""
    try:
        composed = compose(text)
    except NotYaml as exc:
        return [Problem(file, None, exc.line, exc.reason)]
    data, source = composed.data, composed.source
    problems = [_key_problem(file, p) for p in composed.key_problems]
    if not isinstance(data, dict):
        return [Problem(file, None, 1, "the top level must be a mapping (id, languages, ...)")]
    try:
        menu = Menu.model_validate(data)
    except ValidationError as exc:
        problems += [_problem(file, source, error) for error in _relevant(exc.errors())]
    if problems:
        return sorted(problems, key=_order)
    return LoadedMenu(file, menu, source)


def load_menu(path: str | Path) -> LoadedMenu | list[Problem]:
    """A menu file read and shaped; a file that cannot be read is a problem too."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [Problem(str(path), None, None, f"cannot read the file: {exc}")]
    return parse_menu(text, str(path))


def menu_files(directory: str | Path) -> list[Path]:
    """The menu files in a directory, in name order."""
    base = Path(directory)
    return sorted(p for p in base.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def _order(problem: Problem) -> tuple[str, int, str, str]:
    return (problem.file, problem.line or 0, problem.node or "", problem.message)


def sort_problems(problems: list[Problem]) -> list[Problem]:
    """Problems in a stable order: by file, line, node and message."""
    return sorted(problems, key=_order)
