"""World parameters (``sandbox:`` in the Kedro parameters)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class WorldConfig:
    """Everything that determines a sandbox world; the same config gives the same world.

    Attributes:
        seed: Seed of every random draw.
        n_traders: Traders who ever buy a challenge.
        start_date: First simulated trading day (weekdays only are simulated).
        n_days: Number of simulated trading days.
        trader_mix: Share of each trader kind (gambler, scalper, swing, disciplined).
        share_starting: Share of traders with an account on the first day; the others
            arrive uniformly over the period.
        retry_probability: Chance that a trader buys a new challenge after failing one.
        oracle_scenarios: Monte Carlo draws per account and cutoff for the oracle.
        chunk_days: Days simulated between two writes to disk (bounds memory).
    """

    seed: int = 42
    n_traders: int = 1500
    start_date: str = "2025-01-06"
    n_days: int = 130
    trader_mix: dict[str, float] = field(
        default_factory=lambda: {
            "gambler": 0.3,
            "scalper": 0.3,
            "swing": 0.2,
            "disciplined": 0.2,
        }
    )
    share_starting: float = 0.35
    retry_probability: float = 0.55
    oracle_scenarios: int = 200
    chunk_days: int = 20

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> WorldConfig:
        """Build from the ``sandbox`` parameters, ignoring the server's keys."""
        known = {k: v for k, v in params.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def fingerprint(self) -> str:
        """A short hash of the config: the name of the world's folder."""
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]
