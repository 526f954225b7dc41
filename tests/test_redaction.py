"""Secrets never survive into anything printed, however malformed the setting."""

from __future__ import annotations

import pytest

from daily_profit_model.redaction import redact_url, scrub, secret_fragments


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:p4ss@db:5432/x", "postgresql://u:***@db:5432/x"),
        ("postgresql://u:p@ss@db/x", "postgresql://u:***@db/x"),
        ("https://u:p/w?d@vendor/api/", "https://u:***@vendor/api/"),
        ("https://vendor/api/", "https://vendor/api/"),
        ("host=db password='a b' user=u", "host=db password=*** user=u"),
    ],
)
def test_redact_url_hides_the_password_whatever_it_holds(url, shown):
    assert redact_url(url) == shown


def test_scrub_removes_every_piece_a_parser_could_echo():
    url = "postgresql://dpm:Pw9@xQz-S3CRET@127.0.0.1:59999/risk"
    echoed = "failed to resolve host 'xQz-S3CRET@127.0.0.1' (password Pw9)"
    clean = scrub(echoed, secret_fragments(url))
    assert "xQz" not in clean and "Pw9" not in clean and "127.0.0.1" in clean
