"""/platform: what the operator of the hub does, not a seller (creating seller accounts).

Behind the operator token (cloud/api/deps.py ``Operator``, ``GUANJIA_OPERATOR_TOKEN``),
off (404) while it is unset. A seller's users, admins included, never reach it. The
admin's password is hashed on the bounded pool before the write (cloud/api/users.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, status
from sqlalchemy.orm import Session

from cloud import accounts
from cloud.api.deps import HashPoolDep, Operator, UnitsDep
from cloud.api.schemas import AccountIn, AccountOut

router = APIRouter(prefix="/api/v1/platform", tags=["platform"])


@router.post("/accounts", status_code=status.HTTP_201_CREATED)
async def create_account(
    body: AccountIn, units: UnitsDep, pool: HashPoolDep, who: Operator
) -> AccountOut:
    """A seller account with its first admin; 409 if the account name is taken."""
    password = body.admin_password or accounts.draw_password()
    hashed = await pool.hash(password)

    def write(s: Session) -> AccountOut:
        account, admin, _ = accounts.create_seller(
            s, body.name, body.admin_username, hashed, who, datetime.now(UTC)
        )
        return AccountOut(
            name=account.name,
            admin_username=admin.username,
            admin_password=None if body.admin_password else password,
        )

    return await units.write(write)
