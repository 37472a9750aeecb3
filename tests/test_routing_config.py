"""The routing configuration: validation with file-and-key errors, rule matching, queue pools."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.cli import main
from routing.config import (
    FinalAction,
    RoutingConfigError,
    load_routing,
    match_rule,
    parse_routing,
    queue_admits,
)
from tests.support import write_config

DEMO = Path(__file__).parents[1] / "config" / "routing.yaml"


def _demo() -> dict[str, Any]:
    return yaml.safe_load(DEMO.read_text())


def test_the_demo_rules_are_valid() -> None:
    config = load_routing(DEMO)
    assert {"billing", "tech", "sales"} <= set(config.skills)
    assert config.rules[-1].when == {}
    assert config.capacity_of("grace")["chat"] == 4 and config.capacity_of("ada")["chat"] == 3


def _broken(change: Any) -> list[str]:
    data = _demo()
    change(data)
    with pytest.raises(RoutingConfigError) as err:
        parse_routing(data, "routing.yaml")
    return err.value.problems


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["rules"][1]["steps"][0].update(queue="bilIing"),
            "routing.yaml: rules[1].steps[0].queue: unknown queue 'bilIing'",
        ),
        (
            lambda d: d["operators"]["ada"]["skills"].update(billing=6),
            "routing.yaml: operators.ada.skills.billing: level must be 1 to 5, not 6",
        ),
        (
            lambda d: d["operators"]["ada"]["skills"].update(cooking=2),
            "routing.yaml: operators.ada.skills.cooking: unknown skill 'cooking'",
        ),
        (
            lambda d: d["queues"]["tech-de"]["target"].update(languages=["fr"]),
            "routing.yaml: queues.tech-de.target.languages: unknown language 'fr'",
        ),
        (
            lambda d: d["rules"][0]["steps"][0].pop("timeout_seconds"),
            "routing.yaml: rules[0].steps[0].timeout_seconds: Field required",
        ),
        (
            lambda d: d["rules"][0]["final"].update(action="teleport"),
            "routing.yaml: rules[0].final.action: Input should be",
        ),
        (
            lambda d: d["rules"][-1]["final"].update(queue="nowhere"),
            "routing.yaml: rules[5].final.queue: overflow needs a known queue, not 'nowhere'",
        ),
        (
            lambda d: d["rules"][1]["final"].pop("text"),
            "routing.yaml: rules[1].final.text: a notice needs its text",
        ),
        (
            lambda d: d["rules"].pop(),
            "routing.yaml: rules[4].when: the last rule must match every contact",
        ),
        (
            lambda d: d["rules"][1].update(name="gold-billing"),
            "routing.yaml: rules[1].name: 'gold-billing' is used twice",
        ),
        (lambda d: d.update(rules=[]), "routing.yaml: rules: Tuple should have at least 1 item"),
        (lambda d: d.update(queus={}), "routing.yaml: queus: Extra inputs are not permitted"),
    ],
)
def test_mistakes_are_named(change: Any, expected: str) -> None:
    problems = _broken(change)
    assert any(p.startswith(expected) for p in problems), problems


def test_rules_match_first_wins() -> None:
    config = load_routing(DEMO)
    assert match_rule(config, {"tier": "gold", "topic": "billing"}).name == "gold-billing"
    assert match_rule(config, {"tier": "silver", "topic": "billing"}, "A REFUND?").name == (
        "billing-words"
    )
    assert match_rule(config, {"language": "de", "topic": "tech"}).name == "german-tech"
    rule = match_rule(config, {"language": "fr"}, "hello")
    assert rule.name == "everything-else" and rule.final.action == FinalAction.OVERFLOW
    steps = [s.as_step() for s in match_rule(config, {"tier": "gold", "topic": "billing"}).steps]
    assert [(s.queue, s.timeout_seconds) for s in steps] == [
        ("billing-experts", 60),
        ("billing", 240),
    ]


def test_queue_pools() -> None:
    config = load_routing(DEMO)
    experts, tech_de, everyone = (
        config.queues[q] for q in ("billing-experts", "tech-de", "everyone")
    )
    assert queue_admits(experts, {"billing": 4}, ("en",))
    assert not queue_admits(experts, {"billing": 3}, ("en",))
    assert queue_admits(tech_de, {"tech": 1}, ("en", "de"))
    assert not queue_admits(tech_de, {"tech": 5}, ("en",))
    assert queue_admits(everyone, {}, ())
    assert not queue_admits(config.queues["billing"], {"billing": 2}, ("en",), min_level=3)


def test_check_config_reports_routing_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _demo()
    data["rules"][0]["steps"][0]["queue"] = "missing"
    rules = tmp_path / "routing.yaml"
    rules.write_text(yaml.safe_dump(data))
    config = write_config(tmp_path, routing={"rules_file": str(rules)})
    assert main(["--config", str(config), "check-config"]) == 2
    assert "rules[0].steps[0].queue: unknown queue 'missing'" in capsys.readouterr().err
    good = write_config(tmp_path, routing={"rules_file": str(DEMO)})
    assert main(["--config", str(good), "check-config"]) == 0
    assert "4 skills, 8 queues, 6 rules" in capsys.readouterr().out


def test_unreadable_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(RoutingConfigError, match=r"nope\.yaml: file not found"):
        load_routing(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("queues: {a: [\n")
    with pytest.raises(RoutingConfigError, match=r"broken\.yaml: line"):
        load_routing(broken)
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n")
    with pytest.raises(RoutingConfigError, match="the top level must be a mapping"):
        load_routing(listing)
