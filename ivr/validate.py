"""Checking a menu's meaning before it goes live: every mistake an admin can make that the
shape alone does not show, each reported with file, node and line.

Why: a broken menu is a caller stuck in silence or a loop, so nothing is published until this
says nothing. It catches references to nodes that do not exist, nodes nobody can reach, loops
that never wait for the caller, missing translations, bad patterns, keys and keywords used
twice, unknown calendars, transfer targets that cannot be dialled, and (given the routing
configuration) queues and skills routing does not know. It never raises on bad input.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from pathlib import Path

from ivr.engine import MAX_HOPS
from ivr.loader import LoadedMenu, load_menu, menu_files, sort_problems
from ivr.model import (
    ATTRIBUTE,
    BACK_KEY,
    BUILTIN_MESSAGES,
    LANGUAGE,
    MENU_KEYS,
    NODE_ID,
    REPEAT_KEY,
    TERMINAL_KINDS,
    WAITING_KINDS,
    AppealNode,
    AppealStatusNode,
    AskingNode,
    GatherNode,
    HoursNode,
    LookupNode,
    MenuNode,
    Node,
    NodeKind,
    Problem,
    QueueNode,
    SetNode,
    TransferNode,
    all_words,
    normalize,
)

E164 = re.compile(r"\+[1-9][0-9]{6,14}")
SIP = re.compile(r"sips?:[A-Za-z0-9._~!$&'()*+,;=%-]+@[A-Za-z0-9.-]+(:[0-9]{1,5})?(;[^\s]*)?")
_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
_FIELD_PATH = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")
_RESERVED = frozenset({"language", "topic", "priority", "skills"})
# The text each kind cannot do without (others are optional, but complete when given).
_REQUIRED_TEXT = {
    NodeKind.MENU: "prompt",
    NodeKind.GATHER: "prompt",
    NodeKind.SAY: "prompt",
    NodeKind.VOICEMAIL: "prompt",
    NodeKind.PLAY: "text",
    NodeKind.APPEAL_STATUS: "prompt",
}

PromptValue = str | dict[str, str] | None


class _Check:
    """Collects problems for one loaded menu, with the lines they point at."""

    def __init__(self, loaded: LoadedMenu) -> None:
        self.loaded = loaded
        self.menu = loaded.menu
        self.problems: list[Problem] = []

    def add(self, node: str | None, path: tuple[str | int, ...], message: str) -> None:
        where = _location(path)
        text = f"{where}: {message}" if where else message
        self.problems.append(Problem(self.loaded.file, node, self.loaded.line(node, *path), text))


def _location(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validate(
    loaded: LoadedMenu,
    *,
    queues: Collection[str] | None = None,
    skills: Collection[str] | None = None,
    topics: Collection[str] | None = None,
) -> list[Problem]:
    """Every problem with a loaded menu, in a stable order (file, line, node, message).

    ``queues`` and ``skills`` are the routing configuration's names; when given, a queue node
    may only name those. ``topics`` are the appeal topics in force; when given, an appeal node
    may only name one of them."""
    check = _Check(loaded)
    _menu_fields(check)
    _references(check)
    _reachability(check)
    _busy_loops(check)
    for node_id, node in check.menu.nodes.items():
        _node(check, node_id, node, queues, skills)
        if isinstance(node, AppealStatusNode):
            _attribute(check, node_id, ("into",), node.into)
        elif isinstance(node, AppealNode):
            _appeal(check, node_id, node, topics)
    _engine_messages(check)
    return sort_problems(check.problems)


def check_menu_file(
    path: str | Path,
    *,
    queues: Collection[str] | None = None,
    skills: Collection[str] | None = None,
    topics: Collection[str] | None = None,
) -> LoadedMenu | list[Problem]:
    """Load and validate one file: the menu if it is clean, else its problems."""
    loaded = load_menu(path)
    if isinstance(loaded, list):
        return loaded
    problems = validate(loaded, queues=queues, skills=skills, topics=topics)
    return problems or loaded


def check_directory(
    directory: str | Path,
    *,
    queues: Collection[str] | None = None,
    skills: Collection[str] | None = None,
    topics: Collection[str] | None = None,
) -> tuple[list[LoadedMenu], list[Problem]]:
    """Every menu file in ``directory``: the clean menus and the problems of the others (a
    menu id used by two files is a problem of the second)."""
    menus: list[LoadedMenu] = []
    problems: list[Problem] = []
    try:
        files = menu_files(directory)
    except OSError as exc:
        return [], [Problem(str(directory), None, None, f"cannot read the directory: {exc}")]
    seen: dict[str, str] = {}
    for path in files:
        result = check_menu_file(path, queues=queues, skills=skills, topics=topics)
        if isinstance(result, list):
            problems += result
            continue
        first = seen.get(result.menu.id)
        if first is not None:
            problems.append(
                Problem(
                    result.file,
                    None,
                    result.line(None, "id"),
                    f"id: menu id {result.menu.id!r} is used by {first} already",
                )
            )
            continue
        seen[result.menu.id] = result.file
        menus.append(result)
    return menus, problems


# -- the menu as a whole ------------------------------------------------------------------


def _menu_fields(check: _Check) -> None:
    menu = check.menu
    if not NODE_ID.fullmatch(menu.id):
        check.add(None, ("id",), f"{menu.id!r} is not a valid id ({NODE_ID.pattern})")
    seen: set[str] = set()
    for i, language in enumerate(menu.languages):
        if not LANGUAGE.fullmatch(language):
            check.add(None, ("languages", i), f"{language!r} is not a language code such as en")
        if language in seen:
            check.add(None, ("languages", i), f"{language!r} is listed twice")
        seen.add(language)
    for language in menu.voice:
        if language not in menu.languages:
            check.add(None, ("voice", language), _unknown_language(check, language))
    for node_id in menu.nodes:
        if not NODE_ID.fullmatch(node_id):
            check.add(
                node_id,
                (),
                "a node id uses letters, digits, '_', '.' and '-', starting with a letter "
                "or digit (up to 64 characters)",
            )


def _unknown_language(check: _Check, language: str) -> str:
    known = ", ".join(check.menu.languages)
    return f"language {language!r} is not one of the menu's languages ({known})"


def _references(check: _Check) -> None:
    for owner, path, target in check.menu.links():
        if target not in check.menu.nodes:
            check.add(owner, path, f"unknown node {target!r}")


def _successors(check: _Check, node_id: str) -> Iterator[str]:
    node = check.menu.nodes[node_id]
    for _, target in node.links():
        if target in check.menu.nodes:
            yield target
    fallback = check.menu.fallback
    if isinstance(node, AskingNode) and not node.on_exhausted and fallback in check.menu.nodes:
        assert fallback is not None
        yield fallback


def _reachability(check: _Check) -> None:
    start = check.menu.start
    if start not in check.menu.nodes:
        return
    seen = {start}
    todo = [start]
    while todo:
        for target in _successors(check, todo.pop()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    for node_id in check.menu.nodes:
        if node_id not in seen:
            check.add(node_id, (), f"no path leads here from the start node {start!r}")


def _passes_through(check: _Check, node_id: str) -> bool:
    """Whether the engine goes straight on from this node without waiting for the caller."""
    kind = check.menu.nodes[node_id].kind
    return kind not in WAITING_KINDS and kind not in TERMINAL_KINDS


def _busy_loops(check: _Check) -> None:
    """Cycles made only of nodes that do not wait (say, play, set, hours, lookup), and chains
    of such nodes longer than the engine follows in one step."""
    graph = {
        n: [t for t in _successors(check, n) if _passes_through(check, t)]
        for n in check.menu.nodes
        if _passes_through(check, n)
    }
    order = {n: i for i, n in enumerate(check.menu.nodes)}
    cyclic: set[str] = set()
    for component in _strongly_connected(graph):
        if len(component) > 1 or component[0] in graph[component[0]]:
            members = sorted(component, key=order.__getitem__)
            cyclic.update(members)
            loop = " → ".join([*members, members[0]])
            check.add(
                members[0],
                (),
                f"these nodes loop without ever waiting for the caller: {loop} "
                "(put a menu or gather in the loop)",
            )
    longest: dict[str, int] = {}

    def chain(node: str) -> int:
        if node not in longest:
            longest[node] = 0  # cut cycles (reported above)
            longest[node] = 1 + max((chain(t) for t in graph[node] if t not in cyclic), default=0)
        return longest[node]

    for node in graph:
        if node not in cyclic and chain(node) >= MAX_HOPS:
            check.add(
                node,
                (),
                f"a chain of {chain(node)} nodes that do not wait starts here; "
                f"the engine follows at most {MAX_HOPS - 1} in a row",
            )
            break


def _strongly_connected(graph: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (menus can be long)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            successors = graph[node]
            if i < len(successors):
                work.append((node, i + 1))
                target = successors[i]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                out.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return out


# -- each node ----------------------------------------------------------------------------


def _node(
    check: _Check,
    node_id: str,
    node: Node,
    queues: Collection[str] | None,
    skills: Collection[str] | None,
) -> None:
    kind = node.kind
    for field in ("prompt", "text", "invalid", "timeout"):
        value = getattr(node, field, None)
        if value is not None or _REQUIRED_TEXT.get(kind) == field:
            _prompt(check, node_id, (field,), value, per_language=True)
    if isinstance(node, MenuNode):
        _menu_node(check, node_id, node)
    elif isinstance(node, GatherNode):
        _gather(check, node_id, node)
    elif isinstance(node, SetNode):
        _set(check, node_id, node, skills)
    elif isinstance(node, HoursNode):
        if node.calendar not in check.menu.hours:
            known = ", ".join(check.menu.hours) or "none defined"
            check.add(node_id, ("calendar",), f"unknown calendar {node.calendar!r} ({known})")
    elif isinstance(node, LookupNode):
        _lookup(check, node_id, node)
    elif isinstance(node, QueueNode):
        if queues is not None and node.queue is not None and node.queue not in queues:
            check.add(node_id, ("queue",), f"unknown routing queue {node.queue!r}")
        _skills(check, node_id, node.skills, skills)
    elif isinstance(node, TransferNode) and not (
        E164.fullmatch(node.target) or SIP.fullmatch(node.target)
    ):
        check.add(
            node_id,
            ("target",),
            f"{node.target!r} is neither an E.164 number (+15551234567) "
            "nor a SIP address (sip:desk@pbx.example.com)",
        )


def _prompt(
    check: _Check,
    node_id: str | None,
    path: tuple[str | int, ...],
    value: PromptValue,
    *,
    per_language: bool,
) -> None:
    """A text every configured language has. A plain string is fine for one language, and for
    labels (names like "Español" read the same in every language)."""
    languages = check.menu.languages
    if value is None:
        check.add(node_id, path, f"missing text for {', '.join(languages)}")
        return
    if isinstance(value, str):
        if not value.strip():
            check.add(node_id, path, "the text is empty")
        elif per_language and len(languages) > 1:
            check.add(
                node_id,
                path,
                f"give the text per language ({', '.join(f'{lang}: ...' for lang in languages)}); "
                "a plain text only works in a menu with one language",
            )
        return
    for language, text in value.items():
        if language not in languages:
            check.add(node_id, (*path, language), _unknown_language(check, language))
        elif not text.strip():
            check.add(node_id, (*path, language), "the text is empty")
    missing = [lang for lang in languages if lang not in value]
    if missing:
        check.add(node_id, path, f"missing text for {', '.join(missing)}")


def _menu_node(check: _Check, node_id: str, node: MenuNode) -> None:
    keys: dict[str, int] = {}
    words: dict[tuple[str, str], int] = {}
    languages = check.menu.languages
    for i, option in enumerate(node.options):
        at: tuple[str | int, ...] = ("options", i)
        if option.key is None and not all_words(option.words):
            check.add(node_id, at, "an option needs a key or words")
        if option.key is not None:
            _key(check, node_id, node, (*at, "key"), option.key)
            if option.key in keys:
                check.add(
                    node_id,
                    (*at, "key"),
                    f"key {option.key!r} is used by options[{keys[option.key]}] already",
                )
            keys.setdefault(option.key, i)
        if isinstance(option.words, tuple):
            if option.words and len(languages) > 1:
                check.add(
                    node_id,
                    (*at, "words"),
                    "give the words per language ({en: [...], es: [...]}) "
                    "in a menu with more than one language",
                )
            groups = {languages[0]: option.words}
        else:
            groups = option.words
            for language in option.words:
                if language not in languages:
                    check.add(node_id, (*at, "words", language), _unknown_language(check, language))
        for language, group in groups.items():
            where = (*at, "words") if isinstance(option.words, tuple) else (*at, "words", language)
            for word in group:
                folded = normalize(word)
                if not folded:
                    check.add(node_id, where, f"{word!r} has no letters or digits")
                    continue
                first = words.get((language, folded))
                if first is not None and first != i:
                    check.add(
                        node_id,
                        where,
                        f"word {word!r} ({language}) is used by options[{first}] already",
                    )
                words.setdefault((language, folded), i)
        if option.label is not None:
            _prompt(check, node_id, (*at, "label"), option.label, per_language=False)
        if option.announce is not None and option.announce.language not in languages:
            check.add(
                node_id,
                (*at, "announce", "language"),
                _unknown_language(check, option.announce.language),
            )


def _key(
    check: _Check, node_id: str, node: MenuNode, path: tuple[str | int, ...], key: str
) -> None:
    if key in MENU_KEYS:
        return
    if key == BACK_KEY and not node.back:
        return
    if key == REPEAT_KEY and not node.repeat:
        return
    if key == BACK_KEY:
        check.add(
            node_id, path, "key '*' goes back to the previous menu (set back: false to use it)"
        )
    elif key == REPEAT_KEY:
        check.add(node_id, path, "key '#' repeats the menu (set repeat: false to use it)")
    else:
        check.add(node_id, path, f"{key!r} is not a key: use one digit 0-9")


def _gather(check: _Check, node_id: str, node: GatherNode) -> None:
    if node.min_digits > node.max_digits:
        check.add(
            node_id,
            ("min_digits",),
            f"min_digits ({node.min_digits}) is more than max_digits ({node.max_digits})",
        )
    if node.pattern is not None:
        try:
            re.compile(node.pattern)
        except re.error as exc:
            check.add(node_id, ("pattern",), f"not a valid regular expression: {exc}")
    _attribute(check, node_id, ("into",), node.into)


def _attribute(check: _Check, node_id: str, path: tuple[str | int, ...], name: str) -> None:
    if not ATTRIBUTE.fullmatch(name):
        check.add(
            node_id, path, f"{name!r} is not an attribute name (lower-case letters, digits, '_')"
        )


def _skills(
    check: _Check, node_id: str, wanted: tuple[str, ...] | None, skills: Collection[str] | None
) -> None:
    if skills is None or wanted is None:
        return
    for i, skill in enumerate(wanted):
        if skill not in skills:
            check.add(node_id, ("skills", i), f"unknown skill {skill!r}")


def _set(check: _Check, node_id: str, node: SetNode, skills: Collection[str] | None) -> None:
    if (
        node.language is None
        and node.topic is None
        and node.priority is None
        and node.skills is None
        and not node.attributes
    ):
        check.add(
            node_id, (), "sets nothing (give language, topic, priority, skills or attributes)"
        )
    if node.language is not None and node.language not in check.menu.languages:
        check.add(node_id, ("language",), _unknown_language(check, node.language))
    _skills(check, node_id, node.skills, skills)
    for name in node.attributes:
        if name in _RESERVED:
            check.add(node_id, ("attributes", name), f"set {name!r} with its own field")
        else:
            _attribute(check, node_id, ("attributes", name), name)


def _template(check: _Check, node_id: str, path: tuple[str | int, ...], template: str) -> None:
    rest = _PLACEHOLDER.sub("", template)
    if "{" in rest or "}" in rest:
        check.add(
            node_id,
            path,
            "use {attribute} with a lower-case attribute name; a brace is left over",
        )


def _lookup(check: _Check, node_id: str, node: LookupNode) -> None:
    if not re.fullmatch(r"https?://[^\s/{}]+\S*", node.url):
        check.add(node_id, ("url",), f"{node.url!r} is not an http(s) URL with a fixed host")
    _template(check, node_id, ("url",), node.url)
    for name, template in node.body.items():
        _template(check, node_id, ("body", name), template)
    if node.body and node.method == "GET":
        check.add(node_id, ("body",), "a body is only sent with method: POST")
    for name, field in node.into.items():
        _attribute(check, node_id, ("into", name), name)
        if not _FIELD_PATH.fullmatch(field):
            check.add(node_id, ("into", name), f"{field!r} is not a field name (a.b for nested)")


def _appeal(check: _Check, node_id: str, node: AppealNode, topics: Collection[str] | None) -> None:
    if topics is not None and node.topic not in topics:
        known = ", ".join(sorted(topics)) or "none defined"
        check.add(node_id, ("topic",), f"unknown appeal topic {node.topic!r} ({known})")
    for name, template in node.fields.items():
        if not ATTRIBUTE.fullmatch(name):
            check.add(
                node_id,
                ("fields", name),
                f"{name!r} is not a field name (lower-case letters, digits, '_')",
            )
        _template(check, node_id, ("fields", name), template)
    if node.summary is not None:
        _template(check, node_id, ("summary",), node.summary)


def _engine_messages(check: _Check) -> None:
    """The texts the engine says by itself must exist in every language that needs them, from
    the menu's ``messages`` or the built-in ones."""
    menu = check.menu
    asking = [n for n in menu.nodes.values() if isinstance(n, AskingNode)]
    needed = {
        "invalid": any(n.invalid is None for n in asking),
        "timeout": any(n.timeout is None for n in asking),
        "goodbye": menu.fallback is None and any(n.on_exhausted is None for n in asking),
    }
    for name, needs_builtin in needed.items():
        own = getattr(menu.messages, name)
        if own is not None:
            _prompt(check, None, ("messages", name), own, per_language=True)
            continue
        missing = [lang for lang in menu.languages if lang not in BUILTIN_MESSAGES[name]]
        if needs_builtin and missing:
            check.add(
                None,
                ("languages",),
                f"there is no built-in {name!r} text for {', '.join(missing)}: "
                f"add messages.{name} with a text per language",
            )
