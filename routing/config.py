"""The routing configuration an admin edits: skills, operators, queues, rules and steps.

Why its own model: routing rules are the part of the product admins change most, so they live
in a readable YAML file (config/routing.yaml), are checked as a whole before they are used
(unknown skills or queues, levels outside 1-5, a rule set that could let a contact wait for
ever), and every error names the file and the key, e.g.
``config/routing.yaml: rules[1].steps[0].queue: unknown queue 'bilIing'``.

Matching a contact to a rule and a queue to an operator are pure functions here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.errors import ConfigError
from gateway.yamlfile import read_yaml
from routing.strategy import Choice, Media, Policy, Step

Level = Field(ge=1, le=5)


class RoutingConfigError(ConfigError):
    """A problem with the routing rules file, phrased for the admin (file, key, reason)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Target(_Model):
    """Which operators a queue reaches: every listed skill at the level or above, and (when
    given) one of the languages."""

    skills: dict[str, int] = {}
    languages: tuple[str, ...] = ()


class Queue(_Model):
    description: str = ""
    target: Target = Target()


class OperatorProfile(_Model):
    skills: dict[str, int] = {}
    languages: tuple[str, ...] = ()
    capacity: dict[Media, int] = {}
    # Where a phone call this operator takes is put through: an E.164 number, a sip: address
    # or a Twilio client (client:name).
    phone: str | None = Field(
        default=None, pattern=r"^(\+[1-9][0-9]{6,14}|sips?:[^\s@]+@[^\s]+|client:[A-Za-z0-9_.-]+)$"
    )


class StepConfig(_Model):
    queue: str
    min_level: int | None = Field(default=None, ge=1, le=5)
    priority: int = Field(default=0, ge=0, le=100)
    timeout_seconds: float = Field(gt=0)

    def as_step(self) -> Step:
        return Step(self.queue, self.min_level, self.priority, self.timeout_seconds)


class FinalAction(StrEnum):
    OVERFLOW = "overflow"
    VOICEMAIL = "voicemail"
    CALLBACK = "callback"
    NOTICE = "notice"


class Final(_Model):
    action: FinalAction
    queue: str | None = None  # for overflow
    text: str | None = None  # for notice


class Rule(_Model):
    name: str
    when: dict[str, str | list[str]] = {}
    steps: tuple[StepConfig, ...] = Field(min_length=1)
    final: Final


class PolicyConfig(_Model):
    """How the router chooses among eligible operators, and the timers around a contact."""

    choice: Choice = Choice.LONGEST_IDLE
    prefer_skill_level: bool = True
    aging_seconds: float | None = Field(default=None, gt=0)
    wrapup_seconds: float = Field(default=0, ge=0)
    affinity_seconds: float = Field(default=86_400, ge=0)  # 0: no affinity
    # An operator who missed or declined a contact is not offered it again for this long; then
    # it is offered to them again like to anyone else (0: at once).
    decline_cooldown_seconds: float = Field(default=60, ge=0)
    # Offers an operator may have waiting for an answer at once, per media (as TaskRouter, one
    # by default: the next contact goes to someone else instead of queueing behind it).
    max_pending_offers: dict[Media, Annotated[int, Field(ge=1, le=1000)]] = {}

    def pending_limits(self) -> dict[Media, int]:
        return {media: self.max_pending_offers.get(media, 1) for media in Media}

    def as_policy(self) -> Policy:
        return Policy(
            self.choice, self.aging_seconds, self.prefer_skill_level, self.pending_limits()
        )


class RoutingConfig(_Model):
    policy: PolicyConfig = PolicyConfig()
    skills: dict[str, str] = {}
    languages: tuple[str, ...] = ("en",)
    default_capacity: dict[Media, int] = {
        Media.VOICE: 1,
        Media.CHAT: 3,
        Media.MESSAGING: 3,
        Media.EMAIL: 5,
    }
    operators: dict[str, OperatorProfile] = {}
    queues: dict[str, Queue]
    rules: tuple[Rule, ...] = Field(min_length=1)

    def capacity_of(self, username: str) -> dict[Media, int]:
        """The operator's capacity for contacts, per media. Appeal work is left out (the
        appeals read it themselves), so it never counts in the router's busy fraction."""
        profile = self.operators.get(username)
        merged = {**self.default_capacity, **(profile.capacity if profile else {})}
        return {media: n for media, n in merged.items() if media != Media.APPEAL}

    def rule(self, name: str | None) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)

    def as_document(self) -> dict[str, Any]:
        """The configuration as plain data, as an admin would write it (defaults left out)."""
        return self.model_dump(mode="json", exclude_defaults=True)


def single_queue(queue: str, chat_capacity: int = 3) -> RoutingConfig:
    """What a gateway without a rules file routes by: one queue that reaches everyone."""
    return RoutingConfig(
        default_capacity={
            Media.VOICE: 1,
            Media.CHAT: chat_capacity,
            Media.MESSAGING: 3,
            Media.EMAIL: 5,
        },
        queues={queue: Queue(description="Every operator")},
        rules=(
            Rule(
                name="default",
                steps=(StepConfig(queue=queue, timeout_seconds=3600),),
                final=Final(action=FinalAction.OVERFLOW, queue=queue),
            ),
        ),
    )


# -- checking -----------------------------------------------------------------------------


def _levels(where: str, levels: Mapping[str, int], skills: Mapping[str, str]) -> list[str]:
    problems = []
    for skill, level in levels.items():
        if skill not in skills:
            problems.append(f"{where}.{skill}: unknown skill {skill!r}")
        if not 1 <= level <= 5:
            problems.append(f"{where}.{skill}: level must be 1 to 5, not {level}")
    return problems


def _problems(config: RoutingConfig) -> list[str]:
    problems: list[str] = []
    languages = set(config.languages)
    for name, profile in config.operators.items():
        problems += _levels(f"operators.{name}.skills", profile.skills, config.skills)
        problems += [
            f"operators.{name}.languages: unknown language {lang!r}"
            for lang in profile.languages
            if lang not in languages
        ]
        problems += [
            f"operators.{name}.capacity.{media}: must be 0 or more"
            for media, n in profile.capacity.items()
            if n < 0
        ]
    for name, queue in config.queues.items():
        problems += _levels(f"queues.{name}.target.skills", queue.target.skills, config.skills)
        problems += [
            f"queues.{name}.target.languages: unknown language {lang!r}"
            for lang in queue.target.languages
            if lang not in languages
        ]
    names: set[str] = set()
    for i, rule in enumerate(config.rules):
        where = f"rules[{i}]"
        if rule.name in names:
            problems.append(f"{where}.name: {rule.name!r} is used twice")
        names.add(rule.name)
        for j, step in enumerate(rule.steps):
            if step.queue not in config.queues:
                problems.append(f"{where}.steps[{j}].queue: unknown queue {step.queue!r}")
        final = rule.final
        if final.action == FinalAction.OVERFLOW and final.queue not in config.queues:
            problems.append(
                f"{where}.final.queue: overflow needs a known queue, not {final.queue!r}"
            )
        if final.action == FinalAction.NOTICE and not final.text:
            problems.append(f"{where}.final.text: a notice needs its text")
    if config.rules and config.rules[-1].when:
        problems.append(
            f"rules[{len(config.rules) - 1}].when: the last rule must match every contact "
            "(an empty 'when'), so no contact is left without a route"
        )
    return problems


def _location(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_routing(data: Any, source: str) -> RoutingConfig:
    """Validate already-loaded data; RoutingConfigError lists every problem, file and key."""
    if not isinstance(data, dict):
        raise RoutingConfigError([f"{source}: the top level must be a mapping"])
    try:
        config = RoutingConfig.model_validate(data)
    except ValidationError as exc:
        raise RoutingConfigError(
            [f"{source}: {_location(tuple(e['loc']))}: {e['msg']}" for e in exc.errors()]
        ) from None
    problems = _problems(config)
    if problems:
        raise RoutingConfigError([f"{source}: {p}" for p in problems])
    return config


def load_routing(path: str | Path) -> RoutingConfig:
    try:
        data = read_yaml(path)
    except ConfigError as exc:
        raise RoutingConfigError(exc.problems) from None
    return parse_routing(data, str(path))


# -- matching -----------------------------------------------------------------------------


def match_rule(config: RoutingConfig, attributes: Mapping[str, str], text: str = "") -> Rule:
    """The first rule whose every condition holds. A condition lists accepted values; the
    special key ``keywords`` holds if any of its words occurs in the text."""
    lowered = text.lower()
    for rule in config.rules:
        ok = True
        for key, wanted in rule.when.items():
            values = [wanted] if isinstance(wanted, str) else wanted
            if key == "keywords":
                ok = any(word.lower() in lowered for word in values)
            else:
                ok = attributes.get(key) in values
            if not ok:
                break
        if ok:
            return rule
    raise AssertionError("validated configurations end with a rule that matches everything")


def queue_admits(
    queue: Queue, skills: Mapping[str, int], languages: tuple[str, ...] | frozenset[str],
    min_level: int | None = None,
) -> bool:  # fmt: skip
    """Whether an operator with these skills and languages is in the queue's pool; a step's
    skill floor raises every target level to at least ``min_level``."""
    for skill, level in queue.target.skills.items():
        if skills.get(skill, 0) < max(level, min_level or 0):
            return False
    return not queue.target.languages or any(lang in languages for lang in queue.target.languages)
