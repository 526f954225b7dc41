"""Nodes of the ``sandbox`` pipeline."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from daily_profit_model.params import SandboxParams
from daily_profit_model.sandbox.handle import Publication, WorldPart
from daily_profit_model.sandbox.world import WorldBuilder

logger = logging.getLogger(__name__)


def simulate_world(
    sandbox: SandboxParams, generated_worlds: list[str]
) -> Iterator[WorldPart | Publication]:
    """The world the ``sandbox`` parameters describe, chunk by chunk, then which
    world the sandbox serves (with the parameters' faults).

    A world generated before for the same parameters is reused: nothing is simulated.

    Args:
        sandbox: The world and its server's faults.
        generated_worlds: Fingerprints of the worlds already generated.
    """
    config = sandbox.world_config()
    fingerprint = config.fingerprint()
    if fingerprint in generated_worlds:
        logger.info("Reusing sandbox world %s", fingerprint)
    else:
        yield from WorldBuilder(config).parts()
    yield Publication(fingerprint, sandbox.faults.model_dump())
