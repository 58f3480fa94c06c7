"""Dependencies shared by the routers (``Annotated`` aliases)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from cloud.ingest_worker import IngestWorker
from cloud.settings import Settings


def _session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the handler returns, rolled back on error."""
    with request.app.state.sessions() as session, session.begin():
        yield session


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _ingest(request: Request) -> IngestWorker | None:
    worker: IngestWorker | None = request.app.state.ingest
    return worker


SessionDep = Annotated[Session, Depends(_session)]
SettingsDep = Annotated[Settings, Depends(_settings)]
IngestDep = Annotated[IngestWorker | None, Depends(_ingest)]
