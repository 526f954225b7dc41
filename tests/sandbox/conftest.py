"""A small sandbox world, generated once for the sandbox tests."""

from __future__ import annotations

import pandas as pd
import pytest

from daily_profit_model.sandbox.config import WorldConfig
from daily_profit_model.sandbox.handle import SandboxWorld
from daily_profit_model.sandbox.world import WorldBuilder

SMALL_WORLD = WorldConfig(
    seed=11, n_traders=250, n_days=30, oracle_scenarios=150, chunk_days=10
)
API_KEY = "test-key"


@pytest.fixture(scope="session")
def small_world(tmp_path_factory) -> SandboxWorld:
    folder = tmp_path_factory.mktemp("world") / SMALL_WORLD.fingerprint()
    WorldBuilder(SMALL_WORLD, folder).build()
    return SandboxWorld(folder)


@pytest.fixture(scope="session")
def tables(small_world):
    """The world's public tables as frames."""
    folder = small_world.folder
    return {
        name: pd.read_parquet(folder / name)
        for name in ("trades_closed", "trades_open", "metrics_daily")
    } | {"accounts": pd.read_parquet(folder / "accounts.parquet")}
