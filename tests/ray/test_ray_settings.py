"""The URL a Ray cluster's jobs report to: the server's own, or the one it is told is public."""

from __future__ import annotations

import pytest

from ember.settings import Settings

pytestmark = pytest.mark.xdist_group("ray")


def test_jobs_on_other_machines_report_to_the_public_url() -> None:
    assert Settings(host="0.0.0.0", port=5717, public_url="").remote_url == \
        "http://127.0.0.1:5717"
    told = Settings(host="0.0.0.0", port=5717, public_url="http://ember.lan:5717/")
    assert told.remote_url == "http://ember.lan:5717"
    assert told.resolved().remote_url == "http://ember.lan:5717"   # kept through resolved()


def test_public_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBER_PUBLIC_URL", "http://10.0.0.5:5717")
    assert Settings(port=5717).remote_url == "http://10.0.0.5:5717"
