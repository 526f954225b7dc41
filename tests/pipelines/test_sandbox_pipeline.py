"""The sandbox pipeline: parameters make the world, a second run reuses it, and the
world it publishes is the API source of the base environment."""

from __future__ import annotations

import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from daily_profit_model.datasets.sandbox_world import (
    GeneratedWorldsDataset,
    SandboxWorldDataset,
)
from daily_profit_model.params import SandboxParams
from daily_profit_model.pipelines.sandbox import create_pipeline
from daily_profit_model.sandbox.handle import published
from tests.params import params as params_of

PARAMS = {"seed": 3, "n_traders": 60, "n_days": 6, "oracle_scenarios": 10}


def _run(tmp_path, params):
    root = tmp_path / "sandbox"
    catalog = DataCatalog(
        {
            "params:sandbox": MemoryDataset(
                params_of(SandboxParams, "sandbox", **params)
            ),
            "generated_worlds": GeneratedWorldsDataset(path=str(root)),
            "api_source": SandboxWorldDataset(path=str(root)),
        }
    )
    SequentialRunner().run(create_pipeline(), catalog)
    world, _ = published(root)
    return world, catalog["api_source"].load()


def test_world_is_generated_then_reused_and_served(tmp_path, caplog):
    world, status = _run(tmp_path, PARAMS)
    assert world.summary["config"]["n_traders"] == 60
    # the served world's API answers with its clock: the morning after its last day
    assert status.identity == f"sandbox world {world.folder.name}"
    assert status.server_time.hour == 5
    assert str(status.server_time.date()) > world.summary["last_day"]
    written = (world.folder / "world.json").stat().st_mtime_ns
    caplog.set_level("INFO")
    again, _ = _run(tmp_path, PARAMS)
    assert again.folder == world.folder
    assert (world.folder / "world.json").stat().st_mtime_ns == written
    assert "Reusing sandbox world" in caplog.text


def test_another_seed_is_another_world(tmp_path):
    first, _ = _run(tmp_path, PARAMS)
    second, _ = _run(tmp_path, {**PARAMS, "seed": 4})
    assert first.folder != second.folder


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="n_traders"):
        params_of(SandboxParams, "sandbox", n_traders=0)
