"""Fetching ahead in a thread or a forked child: same items, errors reach the consumer."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import pickle
import signal
import subprocess
import sys

import psutil
import pyarrow as pa
import pytest
from kedro.io import DatasetError

from daily_profit_model.datasets.risk_api import ApiDay, RiskApiDataset
from daily_profit_model.ingestion.prefetch import FetchProcessError, prefetched


def _days(n: int):
    """Items that say which process made them, with an Arrow table as ApiDay has."""
    for i in range(n):
        yield os.getpid(), i, pa.table({"account": [i, i + 1], "pnl": [0.5, -1.0]})


@pytest.mark.parametrize("depth", [1, 3])
def test_the_child_process_hands_over_every_item_in_order(depth):
    items = list(prefetched(_days(5), depth, "process"))
    assert [i for _, i, _ in items] == list(range(5))
    assert {pid for pid, _, _ in items} != {os.getpid()}  # made in another process
    assert items[4][2].equals(pa.table({"account": [4, 5], "pnl": [0.5, -1.0]}))


def test_the_thread_worker_makes_them_in_this_process():
    items = list(prefetched(_days(3), 1, "thread"))
    assert [(pid, i) for pid, i, _ in items] == [(os.getpid(), i) for i in range(3)]


class _DayRejectedError(ValueError):
    pass


class _UnpicklableError(Exception):
    def __init__(self, day: int, why: str) -> None:  # two arguments: pickle fails
        super().__init__(f"day {day}: {why}")


def _failing(error: Exception):
    yield 1
    raise error


@pytest.mark.parametrize("worker", ["process", "thread"])
def test_an_error_in_the_producer_is_raised_in_the_consumer(worker):
    received = []
    with pytest.raises(_DayRejectedError, match="the source said 503"):
        for item in prefetched(
            _failing(_DayRejectedError("the source said 503")), 1, worker
        ):
            received.append(item)
    assert received == [1]


def test_the_childs_traceback_travels_as_a_note():
    with pytest.raises(_DayRejectedError) as raised:
        list(prefetched(_failing(_DayRejectedError("bad day")), 1, "process"))
    (note,) = raised.value.__notes__
    assert "Raised in the API fetching process" in note
    assert "_failing" in note


def test_an_error_that_cannot_be_pickled_arrives_as_its_type_and_message():
    with pytest.raises(FetchProcessError, match="_UnpicklableError: day 3: no total"):
        list(prefetched(_failing(_UnpicklableError(3, "no total")), 1, "process"))


def _killed_after_one():
    yield 1
    os.kill(os.getpid(), signal.SIGKILL)
    yield 2


def test_a_killed_child_is_an_error_that_says_so():
    with pytest.raises(FetchProcessError, match="exit code -9 before its last day"):
        list(prefetched(_killed_after_one(), 1, "process"))


def _endless():
    i = 0
    while True:
        yield os.getpid(), i
        i += 1


def test_a_consumer_that_stops_early_stops_the_child():
    items = prefetched(_endless(), 2, "process")
    child_pid, _ = next(items)
    assert psutil.pid_exists(child_pid)
    items.close()
    assert not psutil.pid_exists(child_pid) or (
        psutil.Process(child_pid).status() == psutil.STATUS_ZOMBIE
    )


def test_an_api_day_crosses_the_pipe_whole():
    rows = pa.table({"login": [1, 2], "tradeDate": ["2025-01-10", "2025-01-10"]})
    sent = [
        ApiDay(
            "v2/trades/closed",
            dt.date(2025, 1, 10),
            rows,
            2,
            0,
            1,
            1,
            0.5,
            "run",
            keys_unique=True,
        ),
        ApiDay(
            "accounts", dt.date(2025, 1, 10), [{"login": 1}], 1, 0, 1, 1, 0.1, "run"
        ),
    ]
    received = list(prefetched(iter(sent), 1, "process"))
    assert received[0].rows.equals(rows)
    assert dataclasses.replace(received[0], rows=None) == dataclasses.replace(
        sent[0], rows=None
    )
    assert received[1] == sent[1]
    # in band too (the stream inside the pickle), whatever the protocol
    for protocol in (4, 5):
        assert pickle.loads(pickle.dumps(sent[0], protocol=protocol)).rows.equals(rows)


def test_depth_zero_produces_in_the_consumer():
    assert [pid for pid, _, _ in prefetched(_days(2), 0, "process")] == [
        os.getpid()
    ] * 2


def test_an_unknown_worker_is_named():
    with pytest.raises(ValueError, match="'fiber'"):
        prefetched(_days(1), 1, "fiber")


def test_a_wrong_worker_in_the_catalog_fails_when_the_dataset_is_made(tmp_path):
    with pytest.raises(DatasetError, match="prefetch_worker is 'proces'; use one of"):
        RiskApiDataset(
            filepath=str(tmp_path / "plan.json"),
            source={"kind": "http"},
            client={"prefetch_worker": "proces"},
        )


_PARENT = """
import itertools, os, sys, time
from daily_profit_model.ingestion.prefetch import prefetched
items = prefetched(((os.getpid(), i) for i in itertools.count()), 1, "process")
child, _ = next(items)
print(child, flush=True)
time.sleep(600)
"""


def test_the_child_of_a_killed_parent_exits():
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT], stdout=subprocess.PIPE, text=True
    )
    try:
        child = psutil.Process(int(parent.stdout.readline()))
    finally:
        parent.kill()
        parent.wait()
    # blocked on a full pipe, it finds no reader left and ends
    child.wait(timeout=30)
