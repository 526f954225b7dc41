"""One intraday price path per instrument and day, and where trades cross levels on it.

A day is ``STEPS`` steps of 15 minutes. An instrument's path is its log price relative
to the previous day's close, step by step; it ends at the day's return. Steps carry
more variance at news hours (the London open, the US data at 13:30 UTC, the US open)
and at the open (the night between two closes). A news burst is fast but trades
through, so a stop fills near its level; the open gaps, so a stop there can be jumped
over. Every account trading an instrument on a day trades this one path, and a
release moves every position open across it at once.

Where a trade's take-profit or stop is first crossed is a range-extremum query on the
path: sparse tables give the max and min of any step range in O(1), and a binary
search over them the first crossing in O(log STEPS), for every trade at once.
"""

from __future__ import annotations

import numpy as np

STEPS = 96  # 15-minute steps in a day
HOURS_PER_STEP = 24 / STEPS
# Relative variance of each step: bursts at 08:00 (London open), 13:30 (US data) and
# 14:30 (US open), and a gap at the day's first step (the night between two closes).
_WEIGHTS = np.ones(STEPS)
for _hour, _boost in ((8.0, 8.0), (13.5, 55.0), (14.5, 8.0)):
    _WEIGHTS[int(_hour / HOURS_PER_STEP)] += _boost
_WEIGHTS[0] += 6.0
STEP_SHARE = _WEIGHTS / _WEIGHTS.sum()
# The price at step k follows the move of weight k - 1. A news burst is fast but
# trades through (a stop fills near its level); the open gaps over the night, so a
# stop there can be jumped over.
NEWS_STEPS = np.flatnonzero(_WEIGHTS[1:] > 1) + 1  # opened here: the burst comes next
GAP_STEPS = np.array([1])
# Share of the day's variance from the previous close to each step (0 .. 1).
ELAPSED = np.concatenate([[0.0], np.cumsum(STEP_SHARE)])
_LEVELS = int(np.ceil(np.log2(STEPS + 1)))


def bridge_paths(
    day_returns: np.ndarray, sigma: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Log-price paths that end at ``day_returns``.

    Args:
        day_returns: ``(..., n_instruments)`` close-to-close log returns.
        sigma: ``(n_instruments,)`` daily volatility.
        rng: The random generator.

    Returns:
        ``(..., n_instruments, STEPS + 1)``: step 0 is the previous close (0), the last
        step the day's close.
    """
    shape = (*day_returns.shape, STEPS)
    steps = rng.standard_normal(shape) * (sigma[..., None] * np.sqrt(STEP_SHARE))
    walk = np.concatenate([np.zeros((*day_returns.shape, 1)), np.cumsum(steps, -1)], -1)
    # a Brownian bridge: remove the walk's end in proportion to the time elapsed
    return walk - (walk[..., -1:] - day_returns[..., None]) * ELAPSED


class RangeTables:
    """Max and min of any step range of many paths (sparse tables)."""

    def __init__(self, paths: np.ndarray) -> None:
        """``paths``: ``(n_paths, STEPS + 1)``."""
        width = paths.shape[1]
        # level k, step i: the extremum of steps i .. i + 2**k - 1 (padded past the end)
        self.highs = np.full((_LEVELS, *paths.shape), np.inf)
        self.lows = np.full((_LEVELS, *paths.shape), -np.inf)
        self.highs[0], self.lows[0] = paths, paths
        for level in range(1, _LEVELS):
            half = 1 << (level - 1)
            high, low = self.highs[level - 1], self.lows[level - 1]
            self.highs[level, :, : width - half] = np.maximum(
                high[:, : width - half], high[:, half:]
            )
            self.lows[level, :, : width - half] = np.minimum(
                low[:, : width - half], low[:, half:]
            )

    def extremes(
        self, path: np.ndarray, first: np.ndarray, last: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Max and min of ``path`` rows over steps ``first..last`` (inclusive)."""
        level = np.floor(np.log2(np.maximum(last - first + 1, 1))).astype(np.int64)
        second = last - (1 << level) + 1
        high = np.maximum(
            self.highs[level, path, first], self.highs[level, path, second]
        )
        low = np.minimum(self.lows[level, path, first], self.lows[level, path, second])
        return high, low

    def first_crossing(
        self,
        path: np.ndarray,
        start: np.ndarray,
        end: np.ndarray,
        level: np.ndarray,
        above: np.ndarray,
    ) -> np.ndarray:
        """The first step in ``start+1..end`` where ``path`` reaches ``level`` (from
        below when ``above``, else from above); ``end + 1`` where it never does."""
        lo, hi = start + 1, np.maximum(end, start + 1)
        high, low = self.extremes(path, lo, hi)
        hit = np.where(above, high >= level, low <= level) & (end > start)
        found = np.where(hit, hi, end + 1)
        lo, hi = lo[hit], hi[hit]
        p, lv, up = path[hit], level[hit], above[hit]
        for _ in range(_LEVELS):
            mid = (lo + hi) // 2
            high, low = self.extremes(p, start[hit] + 1, mid)
            reached = np.where(up, high >= lv, low <= lv)
            hi = np.where(reached, mid, hi)
            lo = np.where(reached, lo, mid + 1)
        found[hit] = hi
        return found
