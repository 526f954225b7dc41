"""The accounts' identities in a world: who opened which account, and which closed."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from daily_profit_model.sandbox.metrics import ACCOUNT_IDENTITY

_COUNTRIES = np.array(["US", "GB", "DE", "NG", "IN", "AE", "BR", "FR", "ZA", "PK"])

# Identity columns of a live account (``trader`` is the trader's index there).
IDENTITY_COLUMNS = {c: "trader_name" if c == "trader" else c for c in ACCOUNT_IDENTITY}


@dataclass
class Registry:
    """Accounts' identities: the open ones are columns of the live frame, the closed
    ones leave at every chunk.

    Closed accounts never change again, so they go out with the chunk's tables; this
    keeps the largest worlds (millions of accounts) within a bounded footprint.
    """

    closed: list[pd.DataFrame] = field(default_factory=list)
    next_login: dict[str, int] = field(default_factory=dict)
    opened: int = 0

    def open(
        self, traders: np.ndarray, plans: pd.DataFrame, day: pd.Timestamp, rng
    ) -> pd.DataFrame:
        """Identities of new accounts of ``traders`` on ``plans`` (one row each)."""
        n = len(traders)
        index = self.opened + np.arange(n)
        self.opened += n
        broker = plans["broker"].astype(str).to_numpy()
        login = np.empty(n, dtype=np.int64)
        for name in np.unique(broker):  # logins are counted per broker
            where = np.flatnonzero(broker == name)
            first = self.next_login.get(name, 100_001)
            login[where] = first + np.arange(len(where))
            self.next_login[name] = first + len(where)
        return pd.DataFrame(
            {
                "account_id": np.char.add(
                    "ACC", np.char.zfill((index + 1).astype(str), 8)
                ),
                "login": login,
                "platform": plans["platform"].astype(str).to_numpy(),
                "broker": broker,
                "trader_name": np.char.add("TR", np.char.zfill(traders.astype(str), 7)),
                "plan_id": plans["plan_id"].to_numpy().astype(int),
                "type": plans["type"].to_numpy().astype(int),
                "country": rng.choice(_COUNTRIES, n),
                "price_stream": "standard",
                "created_date": day,
            }
        )

    def close(
        self, live: pd.DataFrame, rows: np.ndarray, status: np.ndarray, day
    ) -> None:
        """Record the end of the accounts at ``rows`` of ``live``; they leave memory
        at the next :meth:`take_closed`."""
        if not len(rows):
            return
        record = live.iloc[rows][
            [
                *IDENTITY_COLUMNS.values(),
                "trader",
                "phase",
                "starting_balance",
                "created_date",
            ]
        ].rename(columns={"trader": "trader_index", "trader_name": "trader"})
        self.closed.append(record.assign(status=status, ended_date=day))

    def take_closed(self) -> pd.DataFrame:
        """The accounts closed since the last call (they leave memory)."""
        frame = (
            pd.concat(self.closed, ignore_index=True) if self.closed else pd.DataFrame()
        )
        self.closed = []
        return frame
