"""``db_plan_cache_mode`` (cloud/settings.py): the hub's PostgreSQL connections start with it,
beside whatever the URL already sets; left at "auto", the URL is the one given."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import make_url, text

from cloud.app import create_app
from cloud.db.engine import with_server_settings
from cloud.settings import Settings


def test_settings_join_the_options_the_url_has() -> None:
    url = "postgresql+psycopg://u@h/db?options=-csearch_path%3Dbench_1"
    out = make_url(with_server_settings(url, plan_cache_mode="force_generic_plan"))
    assert out.query["options"] == "-csearch_path=bench_1 -cplan_cache_mode=force_generic_plan"
    assert out.database == "db" and out.username == "u"
    # Nothing to add, or not PostgreSQL: the URL as given.
    assert with_server_settings(url) == url
    assert with_server_settings("sqlite:///x.db", plan_cache_mode="x") == "sqlite:///x.db"


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValidationError, match="db_plan_cache_mode"):
        Settings(database_url="sqlite://", db_plan_cache_mode="sometimes")  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["auto", "force_generic_plan"])
def test_the_hubs_connections_plan_as_set(db_url: str, mode: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("a PostgreSQL setting")
    settings = Settings(
        database_url=db_url,
        mqtt_host="",
        channels_scheduler=False,
        finance_poster=False,
        transfer_watch_poll_s=0,
        import_jobs_per_worker=0,
        warm_on_start=False,
        db_plan_cache_mode=mode,  # type: ignore[arg-type]
    )
    with TestClient(create_app(settings)) as client:
        state = client.app.state  # type: ignore[attr-defined]
        for factory in (state.sessions, state.api_read_sessions):
            with factory() as s:
                assert s.execute(text("SHOW plan_cache_mode")).scalar_one() == mode
        assert client.get("/api/v1/health").status_code == 200
