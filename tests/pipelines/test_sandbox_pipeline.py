"""The sandbox pipeline: parameters make the world, and a second run reuses it."""

from __future__ import annotations

import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from daily_profit_model.datasets.sandbox_world import SandboxWorldDataset
from daily_profit_model.params import SandboxParams
from daily_profit_model.pipelines.sandbox import create_pipeline
from tests.params import params as params_of

PARAMS = {"seed": 3, "n_traders": 60, "n_days": 6, "oracle_scenarios": 10}


def _run(tmp_path, params):
    catalog = DataCatalog(
        {
            "params:sandbox": MemoryDataset(
                params_of(SandboxParams, "sandbox", **params)
            ),
            "sandbox_world": SandboxWorldDataset(path=str(tmp_path / "sandbox")),
        }
    )
    SequentialRunner().run(create_pipeline(), catalog)
    return catalog["sandbox_world"].load()


def test_world_is_generated_then_reused(tmp_path, caplog):
    world = _run(tmp_path, PARAMS)
    assert world.summary["config"]["n_traders"] == 60
    written = (world.folder / "world.json").stat().st_mtime_ns
    caplog.set_level("INFO")
    again = _run(tmp_path, PARAMS)
    assert again.folder == world.folder
    assert (world.folder / "world.json").stat().st_mtime_ns == written
    assert "Reusing sandbox world" in caplog.text


def test_another_seed_is_another_world(tmp_path):
    first = _run(tmp_path, PARAMS)
    second = _run(tmp_path, {**PARAMS, "seed": 4})
    assert first.folder != second.folder


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="n_traders"):
        params_of(SandboxParams, "sandbox", n_traders=0)
