"""Alerts out of the project: one JSON POST per alert to a configured webhook.

The webhook's URL is a secret (a Slack or Teams URL carries its own token): it comes
from the dataset's ``credentials`` (``alert_webhook`` in ``credentials.yml``, which
reads ``DPM_ALERT_WEBHOOK_URL``) and appears in no log line, error or MLflow param.
With no URL configured the alerts are logged (at error level) and not sent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from kedro.io import AbstractDataset, DatasetError

logger = logging.getLogger(__name__)


class AlertDeliveryError(DatasetError):
    """The webhook did not accept an alert."""


@contextmanager
def _quiet_transport() -> Iterator[None]:
    """httpx logs every request's full URL at INFO (httpcore at DEBUG): the webhook's
    URL is its token, so those loggers are held at WARNING while alerts are sent."""
    loggers = [logging.getLogger(name) for name in ("httpx", "httpcore")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def post_alerts(url: str, alerts: list[dict[str, Any]], timeout_s: float) -> int:
    """POST each alert as JSON; the number delivered.

    Raises:
        AlertDeliveryError: The webhook refused one or could not be reached (the
            message names neither its URL nor its token).
    """
    delivered = 0
    with _quiet_transport(), httpx.Client(timeout=timeout_s) as client:
        for alert in alerts:
            try:
                response = client.post(url, json=alert)
            except httpx.HTTPError as exc:
                raise AlertDeliveryError(
                    f"The alert webhook could not be reached ({type(exc).__name__}): "
                    f"alert {alert.get('check')!r} not delivered"
                ) from None
            if response.status_code >= 300:  # noqa: PLR2004
                raise AlertDeliveryError(
                    f"The alert webhook answered HTTP {response.status_code}: alert "
                    f"{alert.get('check')!r} not delivered"
                )
            delivered += 1
    return delivered


class AlertWebhookDataset(AbstractDataset[list[dict[str, Any]], None]):
    """Write-only: each saved alert is POSTed to the webhook.

    Args:
        credentials: ``{"url": ...}``; a missing or empty URL means "log only".
        timeout_s: Per request.
    """

    def __init__(
        self,
        credentials: dict[str, Any] | None = None,
        timeout_s: float = 10.0,
        metadata: dict | None = None,
    ) -> None:
        self._url = (credentials or {}).get("url") or None
        self._timeout_s = timeout_s
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        # never the URL: it is the secret
        return {"configured": self._url is not None, "timeout_s": self._timeout_s}

    def load(self) -> None:
        raise DatasetError("AlertWebhookDataset is write-only")

    def save(self, data: list[dict[str, Any]]) -> None:
        """Log every alert; POST them when a webhook is configured."""
        for alert in data:
            logger.error("ALERT %s: %s", alert.get("check"), alert.get("detail"))
        if not data:
            return
        if self._url is None:
            logger.warning(
                "%d alert(s) not sent: no webhook configured (DPM_ALERT_WEBHOOK_URL)",
                len(data),
            )
            return
        sent = post_alerts(self._url, data, self._timeout_s)
        logger.info("%d alert(s) sent to the configured webhook", sent)
