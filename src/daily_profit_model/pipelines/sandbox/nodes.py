"""Nodes of the ``sandbox`` pipeline."""

from __future__ import annotations

from typing import Any

from daily_profit_model.sandbox.config import WorldConfig


def configure_world(sandbox: dict[str, Any]) -> WorldConfig:
    """Turn the ``sandbox`` parameters into the world's config (validated).

    Raises:
        ValueError: A parameter is out of range.
    """
    config = WorldConfig.from_params(sandbox)
    if config.n_traders < 1 or config.n_days < 2:  # noqa: PLR2004
        raise ValueError("sandbox.n_traders must be >= 1 and sandbox.n_days >= 2")
    return config
