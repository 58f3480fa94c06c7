"""Property-based API tests: schemathesis over the hub's own OpenAPI document.

Every operation gets a bounded number of generated requests, sent in-process (Starlette's
TestClient, the app's lifespan running) as an admin of the seeded demo account, so most
handlers reach the domain with real rows behind them. Two properties, the issue's: no answer
is a 5xx, and every answer matches the schema the OpenAPI document declares for it.
Each bug this found has a plain regression test in test_api_regressions.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from cloud.app import create_app
from cloud.settings import Settings
from tests.cloud.conftest import module_database

PASSWORD = "schemathesis-admin-password"
#: Bounded so the module runs in well under a minute on 2 cores (53 operations per database).
MAX_EXAMPLES = {"sqlite": 12, "postgresql": 6}
DATABASES = ["sqlite"] + (["postgresql"] if os.environ.get("GUANJIA_TEST_DATABASE_URL") else [])


class Api:
    """The running app, its test client, the seeded admin's bearer header, and real ids."""

    def __init__(
        self,
        client: TestClient,
        headers: dict[str, str],
        database: str,
        known: dict[str, list[Any]],
    ) -> None:
        self.client = client
        self.headers = headers
        self.database = database
        #: Path parameter → values that exist, so generated requests reach past the 404.
        self.known = known


def _known(sessions: Any) -> dict[str, list[Any]]:
    from sqlalchemy import select

    from cloud.db.models import SalesOrder, Sku, StockMovement, User

    with sessions() as s:
        return {
            "order_no": list(s.execute(select(SalesOrder.order_no)).scalars()),
            "sku_code": list(s.execute(select(Sku.sku_code)).scalars()),
            "movement_id": list(s.execute(select(StockMovement.id)).scalars()),
            # Not the admin the test runs as: disabling it would turn every later answer to 401.
            "user_id": list(
                s.execute(select(User.public_id).where(User.username != "admin")).scalars()
            ),
            "code": ["WH1", "BCP", "DMG", "SF", "ZTO", "HTKY", "DG-LEATHER"],
            "number": ["PO-2026-001"],
            "key": ["double11-sf", "hunan-sf", "buyer-choice", "default-zto", "gift-film"],
            "node_id": ["node-st-1"],
        }


@pytest.fixture(scope="module", params=DATABASES)
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One seeded hub per database for the whole module (seeding per example would dominate)."""
    from cloud.seed import seed_demo

    gen = module_database(request.param, tmp_path_factory.mktemp("schemathesis"))
    url = next(gen)
    app = create_app(
        Settings(database_url=url, mqtt_host="", jwt_secret="schemathesis-secret-32-bytes-long!!"),
        ingest=False,
    )
    with TestClient(app) as client:
        with app.state.sessions() as s, s.begin():
            seed_demo(s, datetime.now(UTC), password=PASSWORD, node_ids=["node-st-1"])
        r = client.post(
            "/api/v1/auth/token",
            data={"account": "demo", "username": "admin", "password": PASSWORD},
        )
        assert r.status_code == 200, r.text
        token = {"Authorization": f"Bearer {r.json()['access_token']}"}
        yield Api(client, token, request.param, _known(app.state.sessions))
    # Runs the schema cleanup after the app (and its engine) has gone.
    for _ in gen:
        pass


def _document() -> dict[str, Any]:
    """The OpenAPI document, built without a database (nothing connects before the lifespan)."""
    app = create_app(Settings(database_url="sqlite://", mqtt_host="", jwt_secret="x" * 32))
    return app.openapi()


SCHEMA = schemathesis.openapi.from_dict(_document())
# An invalid operation (an Err) fails collection here, loudly: the document itself is wrong.
OPERATIONS = [op.ok() for op in SCHEMA.get_all_operations()]  # type: ignore[union-attr]


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_api_conforms(operation: Any, api: Api) -> None:
    """No 5xx; every response matches the schema declared for its status."""

    @given(case=operation.as_strategy(), data=st.data())
    @settings(
        max_examples=MAX_EXAMPLES[api.database],
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(case: schemathesis.Case, data: st.DataObject) -> None:
        # Half the time, point each path parameter at a row that exists.
        for name in list(case.path_parameters or {}):
            if api.known.get(name) and data.draw(st.booleans(), label=f"known {name}"):
                case.path_parameters[name] = data.draw(st.sampled_from(api.known[name]), label=name)  # type: ignore[index]
        kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=api.headers)
        response = api.client.request(**kwargs)
        case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

    run()
