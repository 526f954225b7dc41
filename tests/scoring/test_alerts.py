"""Degradation checks and alerts: a local HTTP receiver checks what arrives; the
webhook's URL (a secret) is in no log line or error; `kedro health` fails on a failing
check."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog

from daily_profit_model import ops
from daily_profit_model.datasets.alerts import AlertDeliveryError, AlertWebhookDataset
from daily_profit_model.datasets.scoring import ScoringModel
from daily_profit_model.monitoring import RunLogHooks
from daily_profit_model.params import ScoringParams
from daily_profit_model.pipelines.scoring.nodes import monitor_performance
from tests.ingestion.helpers import use_schema
from tests.params import params

TOKEN = "T0KEN-" + uuid.uuid4().hex


class _Receiver(ThreadingHTTPServer):
    """Records every JSON body POSTed to it; answers ``status``."""

    def __init__(self, status: int = 200) -> None:
        self.bodies: list[dict] = []
        self.paths: list[str] = []
        self.status = status

        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers["Content-Length"])
                receiver.paths.append(self.path)
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/{TOKEN}"


@pytest.fixture
def receiver():
    server = _Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _scored(cutoff: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cutoff_date": [pd.Timestamp(cutoff).date()],
            "scored_at": [pd.Timestamp.now(tz="UTC")],
            "run_id": ["run-1"],
        }
    )


def _evaluation(coverage: float, days: int = 20, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    targets = pd.bdate_range("2025-03-03", periods=days)
    return pd.DataFrame(
        {
            "target_date": targets.date,
            "model_version": 1,
            "role": "champion",
            "coverage_90": np.clip(coverage + rng.normal(0, 0.02, days), 0, 1),
            "pinball_05": 10 + rng.normal(0, 0.5, days),
            "pinball_95": 12 + rng.normal(0, 0.5, days),
        }
    )


def _books(days: int, exceptions: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A firm book's forecasts and the outcomes whose totals fall outside ``exceptions`` times."""
    cutoffs = pd.bdate_range("2025-03-03", periods=days + 1)
    firm = pd.DataFrame(
        {
            "cutoff_date": cutoffs[:-1].date,
            "target_date": cutoffs[1:].date,
            "model_version": 1,
            "role": "champion",
            "book": "firm",
            "expected_total": 0.0,
            "lower_90": -100.0,
            "upper_90": 100.0,
        }
    )
    actual = np.zeros(days)
    actual[:exceptions] = 500.0
    outcomes = pd.DataFrame(
        {
            "target_date": cutoffs[1:].date,
            "model_version": 1,
            "phase": 1,
            "actual": actual,
        }
    )
    return firm, outcomes


def _check(evaluation, firm, outcomes, drift=None) -> tuple[pd.DataFrame, list]:
    champion = ScoringModel(
        "champion",
        1,
        "champion",
        None,
        {"test_coverage_90": 0.90, "test_pinball_05": 10.0, "test_pinball_95": 12.0},
    )
    checks, _, alerts, *_ = monitor_performance(
        _scored("2025-04-30"),
        evaluation,
        firm,
        outcomes,
        drift or {"drift_features_severe": 0.0},
        [champion],
        params(ScoringParams, "scoring"),
    )
    return checks.set_index("check_name"), alerts


def test_a_healthy_champion_raises_no_alert_and_a_degraded_one_does():
    firm, outcomes = _books(40, 2)
    checks, alerts = _check(_evaluation(0.90), firm, outcomes)
    assert alerts == []
    assert set(checks.index) >= {
        "rolling_coverage_90",
        "rolling_pinball_05",
        "firm_exceptions_low",
        "firm_exceptions_high",
        "severe_drift",
    }
    assert checks.loc["firm_exceptions_high", "status"] == "green"

    checks, alerts = _check(_evaluation(0.80, seed=1), firm, outcomes)
    assert [a["check"] for a in alerts] == ["rolling_coverage_90"]
    assert checks.loc["rolling_coverage_90", "p_value"] < 0.01
    # a small dip is not a degradation, however many days show it
    _, alerts = _check(_evaluation(0.885, seed=2), firm, outcomes)
    assert alerts == []


def test_a_red_traffic_light_and_severe_drift_are_alerts():
    firm, outcomes = _books(60, 12)  # 12 high exceptions in 60 days: 3 expected
    checks, alerts = _check(
        _evaluation(0.90), firm, outcomes, {"drift_features_severe": 2.0}
    )
    assert checks.loc["firm_exceptions_high", "status"] == "red"
    assert {a["check"] for a in alerts} == {"firm_exceptions_high", "severe_drift"}


def test_alerts_arrive_as_json_and_the_url_is_never_logged(receiver, caplog):
    dataset = AlertWebhookDataset(credentials={"url": receiver.url})
    alerts = [{"check": "rolling_coverage_90", "status": "degraded", "detail": "x"}]
    with caplog.at_level(logging.DEBUG):
        dataset.save(alerts)
    assert receiver.bodies == alerts
    assert receiver.paths == [f"/hooks/{TOKEN}"]
    assert TOKEN not in caplog.text and TOKEN not in str(dataset)

    receiver.status = 500
    with pytest.raises(AlertDeliveryError) as refused:
        dataset.save(alerts)
    assert "HTTP 500" in str(refused.value) and TOKEN not in str(refused.value)
    # nothing configured: logged, not sent, not an error
    AlertWebhookDataset(credentials={"url": None}).save(alerts)
    assert len(receiver.bodies) == 2


def test_a_failed_run_is_an_alert(receiver):
    catalog = DataCatalog(
        {"alerts": AlertWebhookDataset(credentials={"url": receiver.url})}
    )
    RunLogHooks().on_pipeline_error(RuntimeError("the API fell over"), catalog)
    (body,) = receiver.bodies
    assert body["check"] == "failed_run"
    assert "RuntimeError: the API fell over" in body["detail"]


def test_health_fails_on_a_failing_check(pgdata):
    use_schema(pgdata, f"health_{uuid.uuid4().hex[:8]}")
    assert ops.check_performance().ok  # nothing checked yet
    rows = [
        ("rolling_coverage_90", "ok", False),
        ("firm_exceptions_high", "red", True),
    ]
    with ops.get_database().connect() as conn:
        conn.execute(f"SET search_path TO {ops.get_database().schema}")
        for name, status, alert in rows:
            conn.execute(
                "INSERT INTO performance_checks (cutoff_date, model_version, "
                "check_name, days, status, alert, detail, checked_at, run_id) "
                "VALUES ('2025-04-30', 1, %s, 20, %s, %s, 'x', now(), 'r')",
                [name, status, alert],
            )
    check = ops.check_performance()
    assert not check.ok
    assert "firm_exceptions_high red" in check.detail
