"""The default world's stylized facts fall within their real-world ranges, and the
facts measure what they claim (a world without crowding is not crowded)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from daily_profit_model.params import project_world
from daily_profit_model.sandbox import facts
from daily_profit_model.sandbox.paths import STEPS, RangeTables, bridge_paths
from daily_profit_model.sandbox.world import WorldBuilder
from tests.conftest import PROJECT_PATH, copy_project

_CROWD = "variance of the firm's daily total / sum of the accounts' own variances"


def _facts(folder, **changes) -> dict[str, facts.Fact]:
    # the oracle draws from its own generator: the world is the same without it
    config = project_world(PROJECT_PATH, oracle_scenarios=0, **changes)
    WorldBuilder(config).build(folder)
    return {fact.name: fact for fact in facts.measure(folder)}


def test_the_default_world_is_within_the_reference_ranges(tmp_path):
    measured = _facts(tmp_path / "default")
    outside = {name: f.value for name, f in measured.items() if not f.within}
    assert not outside, facts.report(list(measured.values()))
    assert len(measured) == 11  # noqa: PLR2004 - every row of the issue's table


def test_crowding_is_what_correlates_the_accounts(tmp_path):
    size = {"n_traders": 600, "n_days": 60}
    crowded = _facts(tmp_path / "crowded", **size)[_CROWD].value
    alone = _facts(tmp_path / "alone", crowding=0.0, **size)[_CROWD].value
    assert crowded > 2 * alone, (crowded, alone)


def test_paths_end_at_the_days_returns():
    rng = np.random.default_rng(0)
    returns = rng.normal(0, 0.01, (3, 4))
    paths = bridge_paths(returns, np.full(4, 0.01), rng)
    assert paths.shape == (3, 4, STEPS + 1)
    np.testing.assert_allclose(paths[..., 0], 0.0)
    np.testing.assert_allclose(paths[..., -1], returns)


@pytest.mark.parametrize("above", [True, False])
def test_first_crossing_is_the_first_step_past_the_level(above):
    rng = np.random.default_rng(1)
    paths = np.cumsum(rng.normal(0, 1, (50, STEPS + 1)), axis=1)
    tables = RangeTables(paths)
    n = 2000
    path = rng.integers(0, 50, n)
    start = rng.integers(0, STEPS, n)
    end = np.minimum(start + rng.integers(0, STEPS, n), STEPS)
    level = paths[path, start] + rng.normal(0, 4, n) * (1 if above else -1)
    found = tables.first_crossing(path, start, end, level, np.full(n, above))
    for i in range(n):  # the plain loop the sparse tables replace
        window = paths[path[i], start[i] + 1 : end[i] + 1]
        hits = np.flatnonzero(window >= level[i] if above else window <= level[i])
        expected = start[i] + 1 + hits[0] if len(hits) else end[i] + 1
        assert found[i] == expected, i


def test_kedro_sandbox_facts_prints_and_writes_them(tmp_path):
    project = copy_project(tmp_path)
    params = "sandbox.n_traders=200,sandbox.n_days=30,sandbox.oracle_scenarios=0"
    done = subprocess.run(
        [sys.executable, "-m", "kedro", "sandbox", "facts", "--params", params],
        cwd=project,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "within their range" in done.stdout
    written = json.loads((project / "data/08_reporting/sandbox_facts.json").read_text())
    assert len(written["facts"]) == 11  # noqa: PLR2004
    assert _CROWD in done.stdout
