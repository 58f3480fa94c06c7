"""A WeChat Pay bill job's private key and APIv3 key sealed at rest with the hub's secret
(issue 18; cloud/finance/sealed.py), both databases: the database never holds them plain,
a run opens them, a plain row from before is sealed at its next run, and a wrong or missing
secret is the job's error with nothing fetched, imported or rewritten."""

from __future__ import annotations

import base64
import os

import pytest
from cryptography.exceptions import InvalidTag
from pydantic import ValidationError
from sqlalchemy import text

from cloud.finance import sealed, wechat_jobs
from cloud.settings import Settings
from cloud.web.i18n import translations
from tests.cloud.finance.test_settlements import DAY, world  # noqa: F401
from tests.cloud.finance.test_wechat_certs import (
    V3_KEY,
    CertWorld,
    cert_job,
    run,
    stored,
    w,  # noqa: F401
)
from tests.cloud.finance.test_wechat_v3 import PRIVATE, counts, job_row

KEY = base64.b64encode(os.urandom(32)).decode()


def raw(cw: CertWorld) -> tuple[str, str]:
    """The two columns as the database holds them (no ORM in between)."""
    with cw.hub.factory() as s:
        row = s.execute(text("SELECT private_key, api_v3_key FROM wechat_bill_job")).one()
        return str(row[0]), str(row[1])


def test_the_database_never_holds_the_keys_plain_and_a_run_opens_them(
    w: CertWorld,  # noqa: F811
) -> None:
    box = sealed.box_of(KEY)
    cert_job(w, box=box)
    private, v3 = raw(w)
    assert private.startswith("gjseal1:") and v3.startswith("gjseal1:"), (private, v3)
    pem_body = PRIVATE.decode().splitlines()[1]
    assert "PRIVATE KEY" not in private and pem_body not in private and V3_KEY not in v3
    done = run(w, box=box)
    assert done.error is None and done.days == [DAY] and len(stored(w)) == 1, done
    assert raw(w) == (private, v3)  # sealed once, not again at each run


def test_a_plain_row_is_sealed_at_its_next_run(w: CertWorld) -> None:  # noqa: F811
    job_id = cert_job(w)  # before the hub had a secret: plain
    assert raw(w) == (PRIVATE.decode(), V3_KEY)
    box = sealed.box_of(KEY)
    done = run(w, box=box)
    assert done.error is None and done.days == [DAY], done
    private, v3 = raw(w)
    assert private.startswith("gjseal1:") and v3.startswith("gjseal1:")
    job = job_row(w, job_id)
    assert box is not None
    assert box.open(v3, sealed.context(job.account_id, job.mchid, "api_v3_key")) == V3_KEY
    assert box.open(private, sealed.context(job.account_id, job.mchid, "private_key")) == (
        PRIVATE.decode()
    )


@pytest.mark.parametrize(
    ("secret", "sentence"),
    [
        (base64.b64encode(b"\x01" * 32).decode(), "do not open with the hub's secret"),
        (None, "has no secret to open them"),
    ],
    ids=["another secret", "no secret"],
)
def test_a_wrong_or_missing_secret_is_the_jobs_error_and_nothing_changes(
    w: CertWorld,  # noqa: F811
    secret: str | None,
    sentence: str,
) -> None:
    job_id = cert_job(w, box=sealed.box_of(KEY))
    before, keys = counts(w), raw(w)
    done = run(w, box=sealed.box_of(secret))
    assert done.error and sentence in done.error and done.days == [], done
    assert counts(w) == before and raw(w) == keys and stored(w) == []
    job = job_row(w, job_id)
    assert sentence in str(job.last_error) and job.last_day is None
    zh = wechat_jobs.error_text(job.last_error, translations("zh_CN").gettext)
    assert zh and zh != wechat_jobs.error_text(job.last_error), zh


def test_a_sealed_value_opens_only_in_its_own_row_and_column() -> None:
    box = sealed.Box(os.urandom(32))
    value = box.seal(V3_KEY, sealed.context(1, "1900000109", "api_v3_key"))
    assert box.open(value, sealed.context(1, "1900000109", "api_v3_key")) == V3_KEY
    for other in (
        sealed.context(2, "1900000109", "api_v3_key"),  # another seller's job
        sealed.context(1, "1900000110", "api_v3_key"),  # another merchant
        sealed.context(1, "1900000109", "private_key"),  # another column
    ):
        with pytest.raises(InvalidTag):
            box.open(value, other)
    assert box.seal(V3_KEY, "c") != box.seal(V3_KEY, "c")  # a fresh nonce each time


@pytest.mark.parametrize("bad", ["short", base64.b64encode(b"x" * 31).decode(), "!" * 44])
def test_a_bad_secret_setting_is_refused_at_start(bad: str) -> None:
    with pytest.raises(ValidationError, match="32 random bytes in base64"):
        Settings(secrets_key=bad)
    assert Settings(secrets_key=KEY).secrets_key == KEY
