"""The sandbox's ground truth of tomorrow: each account's and each book's quantiles.

The oracle simulates tomorrow ``k`` times for every account alive at a cutoff, each
draw in one market scenario shared by every account, so a draw's sum over accounts is
the firm's total (and the funded book's) in that scenario.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

_FUNDED_PHASE = 4


def oracle_tables(
    live: pd.DataFrame, draws: np.ndarray, cutoff: dt.date, target: dt.date
) -> dict[str, pd.DataFrame]:
    """``truth_firm`` (per book) and ``truth_oracle`` (per account) of one cutoff.

    Args:
        live: The accounts alive at the cutoff (``account_id``, ``phase``).
        draws: Tomorrow's netProfit, one row per scenario, one column per account.
        cutoff: The cutoff day.
        target: The day forecast.
    """
    funded = live["phase"].to_numpy() == _FUNDED_PHASE
    totals = {"firm": draws.sum(axis=1), "funded": draws[:, funded].sum(axis=1)}
    firm = pd.DataFrame(
        [
            {
                "cutoff_date": cutoff,
                "target_date": target,
                "book": book,
                "accounts": int(len(live) if book == "firm" else funded.sum()),
                "mean": float(total.mean()),
                **dict(
                    zip(
                        ("q05", "q50", "q95"),
                        np.quantile(total, [0.05, 0.5, 0.95]).tolist(),
                        strict=True,
                    )
                ),
            }
            for book, total in totals.items()
        ]
    )
    q05, q50, q95 = np.quantile(draws, [0.05, 0.5, 0.95], axis=0)
    accounts = pd.DataFrame(
        {
            "account_id": live["account_id"].to_numpy(),
            "cutoff_date": cutoff,
            "target_date": target,
            "q05": q05,
            "q50": q50,
            "q95": q95,
            "mean": draws.mean(axis=0),
        }
    )
    return {"truth_firm": firm, "truth_oracle": accounts}
