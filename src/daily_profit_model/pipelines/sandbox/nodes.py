"""Nodes of the ``sandbox`` pipeline."""

from __future__ import annotations

from daily_profit_model.params import SandboxParams
from daily_profit_model.sandbox.config import WorldConfig


def configure_world(sandbox: SandboxParams) -> WorldConfig:
    """The world the ``sandbox`` parameters describe (validated before the run)."""
    return sandbox.world_config()
