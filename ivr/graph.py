"""A menu as a graph an admin can look at: one box per node (kind, a short label, its line in
the file) and one arrow per way out (a key, open/closed, found/failed, exhausted), laid out in
rows from the start node. Pure: the admin page draws it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ivr.loader import SourceMap
from ivr.model import (
    AppealNode,
    AppealStatusNode,
    AskingNode,
    GatherNode,
    HoursNode,
    LookupNode,
    Menu,
    MenuNode,
    PlayNode,
    QueueNode,
    SetNode,
    TransferNode,
    VoicemailNode,
    all_words,
    text_in,
    words_in,
)

SUMMARY = 90  # characters of a prompt shown in a diagram box


def _short(text: str | None, limit: int = SUMMARY) -> str | None:
    if text is None:
        return None
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _summary(menu: Menu, node: object) -> tuple[str, str | None]:
    """A short line for the node's box, and its prompt (default language) for a tooltip."""
    lang = menu.default_language
    prompt = getattr(node, "prompt", None)
    said = text_in(prompt, lang, lang) if isinstance(prompt, str | dict) else None
    match node:
        case MenuNode():
            summary = text_in(node.text, lang, lang) or said or ""
        case GatherNode():
            summary = f"{node.min_digits}-{node.max_digits} digits into {node.into}"
        case PlayNode():
            summary = node.url
        case SetNode():
            parts = [
                f"{name} {value}"
                for name, value in (
                    ("language", node.language),
                    ("topic", node.topic),
                    ("priority", node.priority),
                    ("skills", ",".join(node.skills) if node.skills else None),
                )
                if value is not None
            ]
            parts += [f"{k} {v}" for k, v in node.attributes.items()]
            summary = ", ".join(parts)
        case HoursNode():
            summary = f"calendar {node.calendar}"
        case LookupNode():
            summary = f"{node.method} {node.url}"
        case VoicemailNode():
            summary = f"record up to {node.max_length_seconds} s"
        case QueueNode():
            summary = f"queue {node.queue}" if node.queue else "routing rules choose"
            if node.skills:
                summary += f" · skills {','.join(node.skills)}"
        case TransferNode():
            summary = node.target
        case AppealStatusNode():
            summary = f"appeal status by number into {node.into}"
        case AppealNode():
            summary = f"open appeal {node.topic}"
            if node.priority:
                summary += f" · priority {node.priority}"
        case _:
            summary = said or ""
    return _short(summary) or "", said


# What a plain ``next`` means on the diagram, where it is more than "then".
_NEXT_LABELS: dict[type[Any], str] = {
    GatherNode: "digits",
    LookupNode: "found",
    VoicemailNode: "recorded",
    AppealStatusNode: "found",
    AppealNode: "opened",
}
# Others: the field name.
_FIELD_LABELS = {"on_exhausted": "exhausted", "fallback": "failed", "retry": "not found"}


def _edge_label(menu: Menu, node: object, field: tuple[str | int, ...]) -> str:
    lang = menu.default_language
    if isinstance(node, MenuNode) and field[0] == "options" and isinstance(field[1], int):
        option = node.options[field[1]]
        words = words_in(option.words, lang) or all_words(option.words)
        label = text_in(option.label, lang, lang) if option.label is not None else None
        label = label or (words[0] if words else "")
        return f"{option.key} {label}".strip() if option.key is not None else f'"{label}"'
    if field[0] == "next":
        return _NEXT_LABELS.get(type(node), "")
    return _FIELD_LABELS.get(str(field[0]), str(field[0]))


def _field_name(field: tuple[str | int, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in field).lstrip(".")


def _layers(start: str, edges: list[dict[str, Any]], nodes: set[str]) -> dict[str, int]:
    """The row of each node reachable from ``start``: the longest way to it from the start,
    not counting edges that go back up (to-spanish → main), so every other arrow points
    down. Marks those edges ``back``. Iterative: a menu may be longer than the stack."""
    out: dict[str, list[dict[str, Any]]] = {n: [] for n in nodes}
    for edge in edges:
        edge["back"] = False
        if edge["from"] in out and edge["to"] in nodes:
            out[edge["from"]].append(edge)
    if start not in nodes:
        return {}
    finished: list[str] = []  # post-order: reversed, a topological order without back edges
    on_path, seen = {start}, {start}
    stack: list[tuple[str, Iterator[dict[str, Any]]]] = [(start, iter(out[start]))]
    while stack:
        here, todo = stack[-1]
        following: dict[str, Any] | None = next(todo, None)
        if following is None:
            stack.pop()
            on_path.discard(here)
            finished.append(here)
        elif following["to"] in on_path:
            following["back"] = True
        elif following["to"] not in seen:
            target = following["to"]
            seen.add(target)
            on_path.add(target)
            stack.append((target, iter(out[target])))
    layers = dict.fromkeys(finished, 0)
    for here in reversed(finished):
        for edge in out[here]:
            if not edge["back"]:
                layers[edge["to"]] = max(layers[edge["to"]], layers[here] + 1)
    return layers


def menu_graph(menu: Menu, source: SourceMap | None = None) -> dict[str, Any]:
    """The menu as boxes and arrows: every node with its kind, a short label, its line in the
    YAML and its layer (its row under the start node, see :func:`_layers`); every edge with a
    label an admin reads ("1 Sales", "open", "exhausted"). Edges marked ``implicit`` are where
    a caller goes without the node naming it (the menu's ``fallback`` after too many tries).
    The page lays the rows out and draws them; no layout library is needed for menus."""
    edges: list[dict[str, Any]] = []
    for node_id, node in menu.nodes.items():
        for field, target in node.links():
            edges.append(
                {
                    "from": node_id,
                    "to": target,
                    "label": _edge_label(menu, node, field),
                    "field": _field_name(field),
                    "line": source.line(("nodes", node_id, *field)) if source else None,
                    "implicit": False,
                }
            )
        if isinstance(node, AskingNode) and node.on_exhausted is None and menu.fallback:
            edges.append(
                {
                    "from": node_id,
                    "to": menu.fallback,
                    "label": "exhausted",
                    "field": "fallback",
                    "line": source.line(("fallback",)) if source else None,
                    "implicit": True,
                }
            )
    layers = _layers(menu.start, edges, set(menu.nodes))
    unreached = max(layers.values(), default=0) + 1
    nodes = []
    for node_id, node in menu.nodes.items():
        summary, prompt = _summary(menu, node)
        nodes.append(
            {
                "id": node_id,
                "kind": node.kind.value,
                "label": summary,
                "prompt": prompt,
                "line": source.line(("nodes", node_id)) if source else None,
                "layer": layers.get(node_id, unreached),
            }
        )
    return {"start": menu.start, "nodes": nodes, "edges": edges}
