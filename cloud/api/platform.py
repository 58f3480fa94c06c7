"""/platform: what the operator of the hub does, not a seller (creating seller accounts).

Behind the operator token (cloud/api/deps.py ``Operator``, ``GUANJIA_OPERATOR_TOKEN``),
off (404) while it is unset. A seller's users, admins included, never reach it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, status

from cloud import accounts
from cloud.api.deps import Operator, SessionDep
from cloud.api.schemas import AccountIn, AccountOut

router = APIRouter(prefix="/api/v1/platform", tags=["platform"])


@router.post("/accounts", status_code=status.HTTP_201_CREATED)
def create_account(body: AccountIn, session: SessionDep, who: Operator) -> AccountOut:
    """A seller account with its first admin; 409 if the account name is taken."""
    account, admin, drawn = accounts.create_seller(
        session, body.name, body.admin_username, body.admin_password, who, datetime.now(UTC)
    )
    return AccountOut(
        account_id=account.id,
        name=account.name,
        admin_username=admin.username,
        admin_password=drawn,
    )
