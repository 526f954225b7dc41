"""What determines a sandbox world (``sandbox:`` in the parameters, faults aside)."""

from __future__ import annotations

import datetime as dt
import hashlib

from pydantic import BaseModel, ConfigDict, Field

# The generator's generation: bumped whenever the same parameters give another world.
GENERATION = 2


class WorldConfig(BaseModel):
    """Everything that determines a sandbox world; the same config gives the same world.

    Its values come from ``conf/base/parameters_sandbox.yml`` (the defaults live there
    only).

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
        market_start: The real day (2014-2018) the first simulated day replays: the
            market window, with its calm and stressed periods.
        crowding: How strongly traders lean with the crowd's daily lean on an
            instrument (0: every trader decides alone).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int
    n_traders: int = Field(ge=1)
    start_date: dt.date
    n_days: int = Field(ge=2)
    trader_mix: dict[str, float]
    share_starting: float = Field(ge=0, le=1)
    retry_probability: float = Field(ge=0, le=1)
    oracle_scenarios: int = Field(ge=0)
    chunk_days: int = Field(ge=1)
    market_start: dt.date
    crowding: float = Field(ge=0)

    def world_config(self) -> WorldConfig:
        """The world's own fields (without the server's, for a subclass)."""
        return WorldConfig.model_validate(
            self.model_dump(include=set(WorldConfig.model_fields))
        )

    def fingerprint(self) -> str:
        """A short hash of the config and the generator's generation: the name of the
        world's folder (a world made by an older generator is never reused)."""
        text = f"{GENERATION}:{self.world_config().model_dump_json()}"
        return hashlib.sha256(text.encode()).hexdigest()[:12]
