"""Admin changes to a routing document, as pure functions (document in, document out).

Why separate from the HTTP handlers: a change is "replace this operator's profile" or "remove
this queue"; what it touched (before and after) goes to the audit log, and whether the result
is a valid configuration is decided by ``parse_routing`` on the whole document, so a change
that would break a rule (say, removing a queue a rule still uses) is refused with the key.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Section(StrEnum):
    """Parts of the configuration that hold named items."""

    SKILLS = "skills"
    OPERATORS = "operators"
    QUEUES = "queues"


NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class EditError(ValueError):
    """The change itself is malformed (before the result is even validated)."""


@dataclass(frozen=True, slots=True)
class Edit:
    document: dict[str, Any]
    action: str
    target: str
    before: Any
    after: Any


def _named(name: str) -> str:
    if not NAME.fullmatch(name):
        raise EditError(
            f"name {name[:80]!r} must be 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def put_item(document: dict[str, Any], section: Section, name: str, value: Any) -> Edit:
    """Add or replace one skill (its description), operator profile or queue."""
    if section == Section.SKILLS and not isinstance(value, str):
        raise EditError("a skill is described by a string")
    if section != Section.SKILLS and not isinstance(value, dict):
        raise EditError(f"one of {section.value} is an object")
    new = copy.deepcopy(document)
    items = new.setdefault(section.value, {})
    before = copy.deepcopy(items.get(_named(name)))
    items[name] = value
    action = f"{section.value}.{'replace' if before is not None else 'add'}"
    return Edit(new, action, f"{section.value}.{name}", before, value)


def delete_item(document: dict[str, Any], section: Section, name: str) -> Edit:
    new = copy.deepcopy(document)
    items = new.get(section.value, {})
    if name not in items:
        raise KeyError(f"{section.value} has no {name!r}")
    before = items.pop(name)
    return Edit(new, f"{section.value}.remove", f"{section.value}.{name}", before, None)


def replace_rules(document: dict[str, Any], rules: Any) -> Edit:
    """The whole ordered list of rules at once: their order is their meaning."""
    if not isinstance(rules, list):
        raise EditError("'rules' must be a list, in the order they are tried")
    new = copy.deepcopy(document)
    before = new.get("rules")
    new["rules"] = rules
    return Edit(new, "rules.replace", "rules", before, rules)


def replace_policy(document: dict[str, Any], policy: Any) -> Edit:
    if not isinstance(policy, dict):
        raise EditError("'policy' must be an object")
    new = copy.deepcopy(document)
    before = new.get("policy")
    new["policy"] = policy
    return Edit(new, "policy.replace", "policy", before, policy)


def replace_all(document: dict[str, Any], config: Any) -> Edit:
    if not isinstance(config, dict):
        raise EditError("'config' must be an object")
    return Edit(copy.deepcopy(config), "routing.replace", "routing", document, config)
