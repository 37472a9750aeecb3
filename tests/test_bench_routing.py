"""The routing benchmarks: the Erlang formulas against textbook values, and each benchmark run
in its quick mode (they print figures; no timing is asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench.service_level import erlang_b, erlang_c, erlang_service_level


def test_erlang_formulas_match_textbook_values() -> None:
    assert erlang_b(1, 1.0) == pytest.approx(0.5)
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)  # M/M/2 at 1 Erlang
    assert erlang_c(11, 10.0) == pytest.approx(0.6821, abs=1e-4)
    assert erlang_c(5, 5.0) == 1.0  # saturated: everyone waits
    # 10 Erlangs on 11 agents, AHT 180 s: 39.0 % answered within 20 s.
    assert erlang_service_level(11, 10.0, 180.0, 20.0) == pytest.approx(0.3896, abs=1e-4)


@pytest.mark.parametrize("module", ["bench.routing_speed", "bench.service_level"])
def test_benchmark_runs_and_reports(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", module, "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures
