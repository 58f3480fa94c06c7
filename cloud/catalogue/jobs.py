"""SKU imports as background jobs (导入任务): accepted at once, run by any hub process.

An import used to answer when done: a large or hostile file held the request (and, parsed on
the event loop, the whole worker: issue 13, finding 6; OWASP API Security Top 10 2023, API4
"Unrestricted resource consumption"). Now the file is stored with a job row
(``import_job``, ``import_job_file``) and the runner of each hub process
(cloud/catalogue/job_runner.py) takes queued jobs from the database, one or two at a time,
and runs each in a worker process, off the hub's event loop and GIL.

Everything a job is lives in the database, never only in one process's memory: any process
answers ``GET /skus/imports/{id}``, any process with a runner may run it, and a job whose
process died is taken over by another:

- **Claim.** A runner claims a job by a compare-and-set ``UPDATE … WHERE status = 'queued'``
  (or ``running`` with a heartbeat older than the lease), writing a new random ``claim``
  token. Every later write of that run says ``WHERE claim = token``: a run whose job was
  taken over (it stalled past the lease, or its process was presumed dead) writes nothing.
- **Heartbeat.** While a job runs its runner renews ``heartbeat_at`` every ``HEARTBEAT_S``;
  a job ``running`` with no heartbeat for ``LEASE_S`` is claimed again by the next runner
  that looks, up to ``MAX_ATTEMPTS`` claims (then ``failed``: a file that kills its worker
  each time is not retried for ever).
- **Nothing applied twice.** Rows are applied in one transaction that first checks the
  claim (locking the job's row) and ends by marking the job ``done``: the rows and the
  "done" commit together or not at all. A run that died before that commit left nothing;
  one that committed left a job no one claims again. Applying is an upsert by SKU code
  anyway, so even a repeated file leaves the catalogue as once.

All rows or none, as before: a file with a bad row imports nothing and the job is
``rejected`` with the first ``MAX_REPORTED`` bad rows (row number, field, why).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from pydantic import BaseModel
from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from cloud.catalogue import import_export
from cloud.catalogue.import_export import ImportRejected, RowError
from cloud.catalogue.skus import count_existing
from cloud.db.models import Account, ImportJob, ImportJobFile
from cloud.errors import N_, DomainError, InvalidError, NotFoundError
from cloud.nodes import downlink

log = logging.getLogger("guanjia.cloud.jobs")

#: A running job whose heartbeat is older than this is presumed dead and claimed again.
LEASE_S: Final = 60.0
HEARTBEAT_S: Final = 5.0
#: How often an idle runner looks for queued jobs (a job accepted by its own process wakes
#: it at once).
POLL_S: Final = 1.0
MAX_ATTEMPTS: Final = 3
#: Bad rows stored and shown; ``errors_total`` counts them all.
MAX_REPORTED: Final = 1000
#: Finished jobs are kept this long (their report), then pruned.
KEEP: Final = timedelta(days=30)

Status = Literal["queued", "running", "done", "rejected", "failed"]
ACTIVE: Final = ("queued", "running")


class ImportJobOut(BaseModel):
    """An import job and its progress, as ``GET /skus/imports/{id}`` shows it."""

    #: The job's public id (random, not a counter).
    id: str
    status: Status
    #: While running: reading (parsing the file), checking (each row), applying (writing).
    stage: Literal["reading", "checking", "applying"] | None
    kind: Literal["csv", "xlsx"]
    size_bytes: int
    rows_read: int
    #: 0 until the job is done: the rows are applied in one transaction, all or none.
    rows_applied: int
    #: Of ``rows_applied``, the SKUs that were new (the rest were replaced); set when done.
    rows_created: int | None = None
    errors_total: int
    #: The first bad rows (at most 1000), by row number of the file (1 is the header).
    errors: list[RowError]
    #: Why the whole file was refused, or the job failed.
    message: str | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


#: Why a job ended without importing, kept in English (``message``, as the API answers it);
#: the import page reads it back as its sentence (cloud/web/pages/skus.py ``JOB_MESSAGES``).
STOPPED: Final = N_(
    "the import stopped %(times)s times before it finished (its server process ended);"
    " send the file again, or split it"
)
FAILED: Final = N_("the import failed on the server (%(error)s); send the file again")
BAD_ROWS: Final = N_("%(count)s bad row(s); nothing imported")


class TooManyJobs(DomainError):
    """The account has as many imports queued or running as it may (HTTP 429)."""

    status = 429

    def headers(self) -> dict[str, str]:
        # RFC 6585 §4, RFC 9110 §10.2.3.
        return {"Retry-After": "5"}


def submit(
    session: Session,
    account_id: int,
    actor: str,
    kind: Literal["csv", "xlsx"],
    data: bytes,
    now: datetime,
    per_account: int,
) -> ImportJob:
    """Store a file as a queued job of the account, unless it has ``per_account`` queued or
    running already (429: each queued job holds its file, up to 20 MB, in the database)."""
    # The account's row locked (PostgreSQL; SQLite's writers are serial anyway): two
    # submits at once count one after the other, so the cap holds.
    session.execute(select(Account.id).where(Account.id == account_id).with_for_update())
    active = session.scalar(
        select(func.count())
        .select_from(ImportJob)
        .where(ImportJob.account_id == account_id, ImportJob.status.in_(ACTIVE))
    )
    if (active or 0) >= per_account:
        raise TooManyJobs(
            N_(
                "at most %(per_account)s import(s) of one account queued or running at a time;"
                " wait for one to finish"
            ),
            per_account=per_account,
        )
    session.execute(
        delete(ImportJob).where(
            ImportJob.account_id == account_id,
            ImportJob.status.not_in(ACTIVE),
            ImportJob.finished_at < now - KEEP,
        )
    )
    job = ImportJob(
        account_id=account_id,
        created_by=actor,
        kind=kind,
        size_bytes=len(data),
        status="queued",
        errors=[],
        rows_read=0,
        rows_applied=0,
        errors_total=0,
        attempts=0,
        created_at=now,
    )
    session.add(job)
    session.flush()
    session.add(ImportJobFile(job_id=job.id, data=data))
    return job


def view(job: ImportJob) -> ImportJobOut:
    return ImportJobOut.model_validate(
        {
            **{c: getattr(job, c) for c in ImportJobOut.model_fields if c != "id"},
            "id": job.public_id,
        }
    )


def get_job(session: Session, account_id: int, public_id: str) -> ImportJobOut:
    """The account's job by its public id; another account's is "not found" (no oracle)."""
    job = session.scalar(
        select(ImportJob).where(
            ImportJob.public_id == public_id, ImportJob.account_id == account_id
        )
    )
    if job is None:
        raise NotFoundError(N_("no import job %(public_id)s"), public_id=public_id)
    return view(job)


# --- running jobs ------------------------------------------------------------------------


class LostClaim(Exception):
    """Another run holds the job now (it was taken over): this one must write nothing."""


@dataclass(frozen=True)
class Claimed:
    id: int
    public_id: str
    account_id: int
    actor: str
    kind: str
    token: str
    attempts: int


def claim_next(
    sessions: sessionmaker[Session],
    read_sessions: sessionmaker[Session],
    lease_s: float = LEASE_S,
) -> Claimed | None:
    """Claim the oldest queued job, or a running one whose heartbeat is older than the lease
    (its process died), for a new run; None if there is none (or others got them first)."""
    now = datetime.now(UTC)
    stale = now - timedelta(seconds=lease_s)
    waiting = or_(
        ImportJob.status == "queued",
        and_(ImportJob.status == "running", ImportJob.heartbeat_at < stale),
    )
    # Looked up in a read transaction first: an idle runner's poll never takes SQLite's
    # write lock. Closed, not committed: a read has nothing to commit (as a GET's session,
    # cloud/api/deps.py ``_end_read``), and a poll's commit every few seconds was counted
    # in tests/cloud/api/test_read_sessions.py's window as the GETs' own.
    with read_sessions() as s:
        found = s.execute(
            select(ImportJob.id, ImportJob.status).where(waiting).order_by(ImportJob.id).limit(4)
        ).all()
    for job_id, status in found:
        # Compare-and-set on what was seen: of two runners, one matches.
        still = (
            ImportJob.status == "queued"
            if status == "queued"
            else and_(ImportJob.status == "running", ImportJob.heartbeat_at < stale)
        )
        token = secrets.token_hex(16)
        with sessions() as s, s.begin():
            job = s.scalar(select(ImportJob).where(ImportJob.id == job_id, still))
            if job is None:
                continue
            if job.attempts >= MAX_ATTEMPTS:
                gave_up = s.execute(
                    update(ImportJob)
                    .where(ImportJob.id == job_id, still)
                    .values(
                        status="failed",
                        stage=None,
                        claim=None,
                        finished_at=now,
                        message=STOPPED % {"times": job.attempts},
                    )
                )
                if gave_up.rowcount == 1:  # type: ignore[attr-defined]
                    s.execute(delete(ImportJobFile).where(ImportJobFile.job_id == job_id))
                continue
            won = s.execute(
                update(ImportJob)
                .where(ImportJob.id == job_id, still)
                .values(
                    status="running",
                    stage="reading",
                    claim=token,
                    heartbeat_at=now,
                    started_at=now,
                    attempts=ImportJob.attempts + 1,
                    rows_read=0,
                    rows_applied=0,
                )
                .execution_options(synchronize_session=False)
            )
            if won.rowcount == 1:  # type: ignore[attr-defined]
                if status == "running":
                    log.warning("import job %s: taken over from a stalled run", job.public_id)
                return Claimed(
                    job_id,
                    job.public_id,
                    job.account_id,
                    job.created_by,
                    job.kind,
                    token,
                    job.attempts + 1,
                )
    return None


def write(sessions: sessionmaker[Session], job_id: int, token: str, values: dict[str, Any]) -> None:
    """Update the job if this run still holds it, renewing its heartbeat (else LostClaim)."""
    with sessions() as s, s.begin():
        r = s.execute(
            update(ImportJob)
            .where(ImportJob.id == job_id, ImportJob.claim == token)
            .values(heartbeat_at=datetime.now(UTC), **values)
        )
        if r.rowcount != 1:  # type: ignore[attr-defined]
            raise LostClaim


def release(sessions: sessionmaker[Session], c: Claimed, *, count: bool) -> None:
    """Back to the queue for any runner, if this run still holds it (not counted as an
    attempt when the run was stopped on purpose, at a shutdown)."""
    with sessions() as s, s.begin():
        s.execute(
            update(ImportJob)
            .where(ImportJob.id == c.id, ImportJob.claim == c.token)
            .values(
                status="queued",
                stage=None,
                claim=None,
                attempts=ImportJob.attempts if count else ImportJob.attempts - 1,
            )
        )


def finish(sessions: sessionmaker[Session], c: Claimed, values: dict[str, Any]) -> None:
    """End the job as ``values`` say, if this run still holds it; its file is deleted."""
    with sessions() as s, s.begin():
        r = s.execute(
            update(ImportJob)
            .where(ImportJob.id == c.id, ImportJob.claim == c.token)
            .values(claim=None, stage=None, finished_at=datetime.now(UTC), **values)
        )
        if r.rowcount == 1:  # type: ignore[attr-defined]
            s.execute(delete(ImportJobFile).where(ImportJobFile.job_id == c.id))


class Work:
    """One run of a claimed job, to its end (in the worker process of a runner,
    cloud/catalogue/job_runner.py, with its own connections)."""

    def __init__(self, sessions: sessionmaker[Session], read_sessions: sessionmaker[Session]):
        self.sessions, self.read_sessions = sessions, read_sessions

    # --- one run ---

    def _write(self, job_id: int, token: str, values: dict[str, Any]) -> None:
        write(self.sessions, job_id, token, values)

    def _finish(self, c: Claimed, values: dict[str, Any]) -> None:
        finish(self.sessions, c, values)

    def run(self, c: Claimed) -> dict[str, int]:
        """Run the job; the downlink pushes its commit queued (for the hub's MQTT client).

        A run whose job was taken over writes nothing and stops; one that fails is queued
        again (counted as an attempt) or, at the last attempt, marked failed."""
        try:
            return self._run(c)
        except LostClaim:
            log.warning("import job %s: taken over by another run; this one stops", c.public_id)
        except Exception as err:
            log.exception("import job %s failed (attempt %d)", c.public_id, c.attempts)
            if c.attempts < MAX_ATTEMPTS:
                release(self.sessions, c, count=True)
            else:
                self._finish(
                    c,
                    {
                        "status": "failed",
                        "message": FAILED % {"error": type(err).__name__},
                    },
                )
        return {}

    def _run(self, c: Claimed) -> dict[str, int]:
        with self.read_sessions() as s:  # closed, not committed (see claim_next)
            data = s.scalar(select(ImportJobFile.data).where(ImportJobFile.job_id == c.id))
        if data is None:  # finished meanwhile by the run it was taken from
            raise LostClaim

        def progress(rows: int) -> None:
            self._write(c.id, c.token, {"rows_read": rows})

        parse = import_export.parse_xlsx if c.kind == "xlsx" else import_export.parse_csv
        try:
            rows = parse(data, progress)
        except InvalidError as err:  # the file as a whole: too many rows, not a workbook …
            self._finish(c, {"status": "rejected", "message": str(err)})
            return {}
        del data
        self._write(c.id, c.token, {"rows_read": len(rows), "stage": "checking"})
        items, errors = import_export.check_rows(rows)
        del rows
        if errors:
            self._reject(c, errors)
            return {}
        self._write(c.id, c.token, {"stage": "applying"})
        now = datetime.now(UTC)
        try:
            with self.sessions() as s:
                with s.begin():
                    # The claim checked (and the job's row locked) in the transaction that
                    # writes the rows and marks the job done: both commit, or neither.
                    held = s.execute(
                        update(ImportJob)
                        .where(ImportJob.id == c.id, ImportJob.claim == c.token)
                        .values(heartbeat_at=now)
                    )
                    if held.rowcount != 1:  # type: ignore[attr-defined]
                        raise LostClaim
                    created = len(items) - count_existing(s, c.account_id, list(items))
                    n, _ = import_export.apply_items(s, c.account_id, items, c.actor, now)
                    s.execute(
                        update(ImportJob)
                        .where(ImportJob.id == c.id)
                        .values(
                            status="done",
                            stage=None,
                            claim=None,
                            rows_applied=n,
                            rows_created=created,
                            finished_at=datetime.now(UTC),
                        )
                    )
                    s.execute(delete(ImportJobFile).where(ImportJobFile.job_id == c.id))
                pushes = downlink.pushes_of(s)
        except ImportRejected as err:  # rows the catalogue refuses (a barcode taken …)
            self._reject(c, err.errors)
            return {}
        log.info("import job %s: %d SKUs imported", c.public_id, n)
        return pushes

    def _reject(self, c: Claimed, errors: list[RowError]) -> None:
        self._finish(
            c,
            {
                "status": "rejected",
                "errors_total": len(errors),
                "errors": [e.model_dump() for e in errors[:MAX_REPORTED]],
                "message": BAD_ROWS % {"count": len(errors)},
            },
        )
