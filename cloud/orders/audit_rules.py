"""The audit (审单) as data: checks, and a small engine over stored, versioned rules.

The manual's audit steps (source, "怎么审单"), each a check here:

1. Address complete, province present, the courier reaches it (乡/镇/村 often not) →
   ``address`` and ``reach`` checks; Chinese addresses are parsed with ``cpca``.
2. Buyer remarks (客户备注) → ``remark``: held for a human.
3. Items, gifts (赠品), prices → ``gift`` rules add gift lines; ``price`` checks minimums.
4. Courier (快递): "双十一满999发顺丰, 湖南省内一般都发顺丰" → ``courier`` rules.

A rule is ``conditions`` (all must hold) and an ``action``. Conditions are
``{"field", "op", "value"}`` over: total (yuan), province, city, district, address, date
(the audit day, Asia/Shanghai), weight_g, channel, buyer_carrier, seller_carrier, sku
(any line). Ops: eq ne gt gte lt lte in not_in between contains present absent.
Actions: courier ``{"carrier": code}`` or ``{"use": "buyer_choice"|"lowest_cost"}``;
gift ``{"gift_sku": code, "qty": n}``; hold ``{"hold": reason}``.
Lower ``priority`` runs first; the first courier rule whose carrier reaches the address wins.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Final, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cloud.db.models import Account, Carrier, Rule, Task
from cloud.errors import N_, ConflictError, InvalidValue, NotFoundError
from cloud.orders.reasons import (
    HELD_BY_OP,
    LIST,
    Decision,
    Said,
    remark_hold,
    yuan,
)
from cloud.tasks import open_task, sentence

log = logging.getLogger("guanjia.cloud.rules")

CHINA: Final = ZoneInfo("Asia/Shanghai")
FIELDS: Final = (
    "total",
    "province",
    "city",
    "district",
    "address",
    "date",
    "weight_g",
    "channel",
    "buyer_carrier",
    "seller_carrier",
    "sku",
)
Op = Literal[
    "eq",
    "ne",
    "gt",
    "gte",
    "lt",
    "lte",
    "in",
    "not_in",
    "between",
    "contains",
    "present",
    "absent",
]
REGION_FIELDS: Final = {"province", "city", "district"}
Key = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]

#: Bounds of a rule (issue 13, finding 7; OWASP API Security Top 10 2023, API4 "Unrestricted
#: resource consumption"): a rule is read for every order its account receives, so its size
#: is the intake's cost. A 134 MB rule made intake 250× slower and ``GET /rules`` 124 MB.
#: A value list holds at most ``MAX_VALUES`` (a province list has 34, a SKU list a few
#: hundred); text values at most ``MAX_TEXT`` characters, all values of a rule together at
#: most ``MAX_RULE_CHARS``; numbers are finite and within ±``MAX_NUMBER`` (a yuan total or a
#: weight in grams: NaN, Infinity and 1e309 made every order of the account fail).
MAX_CONDITIONS: Final = 20
MAX_VALUES: Final = 500
MAX_TEXT: Final = 200
MAX_RULE_CHARS: Final = 50_000
MAX_NUMBER: Final = 10**12
Scalar = (
    Annotated[str, StringConstraints(max_length=MAX_TEXT)]
    | Annotated[int, Field(ge=-MAX_NUMBER, le=MAX_NUMBER)]
    | Annotated[float, Field(ge=-MAX_NUMBER, le=MAX_NUMBER, allow_inf_nan=False)]
)
NUMERIC_FIELDS: Final = {"total", "weight_g"}


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    field: Literal[
        "total",
        "province",
        "city",
        "district",
        "address",
        "date",
        "weight_g",
        "channel",
        "buyer_carrier",
        "seller_carrier",
        "sku",
    ]
    op: Op
    value: Scalar | Annotated[list[Scalar], Field(max_length=MAX_VALUES)] | None = None

    @model_validator(mode="after")
    def _shape(self) -> Condition:
        if self.field in NUMERIC_FIELDS and self.value is not None:
            # Compared as numbers (``_cmp``): a value that is not one failed every order.
            for v in self.value if isinstance(self.value, list) else [self.value]:
                try:
                    number = float(v)
                except ValueError:
                    raise InvalidValue(
                        N_("%(field)s values are numbers, not %(value)r"), field=self.field, value=v
                    ) from None
                if not math.isfinite(number) or abs(number) > MAX_NUMBER:
                    raise InvalidValue(
                        N_("%(field)s values are finite, within ±%(max)s"),
                        field=self.field,
                        max=MAX_NUMBER,
                    )
        if self.op in {"in", "not_in"} and not isinstance(self.value, list):
            raise InvalidValue(N_("%(op)s needs a list value"), op=self.op)
        if self.op == "between" and not (isinstance(self.value, list) and len(self.value) == 2):
            raise InvalidValue(N_("between needs a [low, high] list"))
        if self.op in {"gt", "gte", "lt", "lte", "eq", "ne", "contains"} and (
            self.value is None or isinstance(self.value, list)
        ):
            raise InvalidValue(N_("%(op)s needs one value"), op=self.op)
        if self.field == "date" and self.value is not None:
            for v in self.value if isinstance(self.value, list) else [self.value]:
                try:
                    date.fromisoformat(str(v))
                except ValueError as err:
                    raise InvalidValue(
                        N_("date values are YYYY-MM-DD, not %(value)r"), value=v
                    ) from err
        return self


class CourierAction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    carrier: Key | None = None
    use: Literal["buyer_choice", "lowest_cost"] | None = None

    @model_validator(mode="after")
    def _one(self) -> CourierAction:
        if (self.carrier is None) == (self.use is None):
            raise InvalidValue(N_("give exactly one of carrier or use"))
        return self


class GiftAction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    gift_sku: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    qty: Annotated[int, Field(ge=1, le=1000)] = 1


class HoldAction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hold: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["courier", "gift", "hold"]
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    priority: Annotated[int, Field(ge=0, le=1_000_000)] = 100
    conditions: list[Condition] = Field(default_factory=list, max_length=MAX_CONDITIONS)
    action: dict[str, Any]
    active: bool = True

    @model_validator(mode="after")
    def _action(self) -> RuleIn:
        chars = sum(
            len(str(v))
            for c in self.conditions
            for v in (c.value if isinstance(c.value, list) else [c.value])
        )
        if chars > MAX_RULE_CHARS:
            raise InvalidValue(
                N_(
                    "the conditions' values hold %(chars)s characters; a rule holds at most %(max)s"
                ),
                chars=chars,
                max=MAX_RULE_CHARS,
            )
        models: dict[str, type[BaseModel]] = {
            "courier": CourierAction,
            "gift": GiftAction,
            "hold": HoldAction,
        }
        model = models[self.kind]
        self.action = model.model_validate(self.action).model_dump(exclude_none=True)
        return self


class CarrierIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    cost_cents: Annotated[int, Field(ge=0, le=10**9)] = 0
    unreachable: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=500
    )


# --- rule storage (versioned) -------------------------------------------------------


def current_rules(session: Session, account_id: int, *, active_only: bool = True) -> list[Rule]:
    q = select(Rule).where(Rule.account_id == account_id, Rule.superseded_at.is_(None))
    if active_only:
        q = q.where(Rule.active.is_(True))
    return list(session.execute(q.order_by(Rule.priority, Rule.rule_key)).scalars().all())


def rule_history(session: Session, account_id: int, key: str) -> list[Rule]:
    rows = list(
        session.execute(
            select(Rule)
            .where(Rule.account_id == account_id, Rule.rule_key == key)
            .order_by(Rule.version)
        ).scalars()
    )
    if not rows:
        raise NotFoundError(N_("no rule %(key)r"), key=key)
    return rows


def put_rule(
    session: Session, account_id: int, key: str, body: RuleIn, actor: str, now: datetime
) -> Rule:
    """Create a rule or add its next version; the old version stays, marked superseded."""
    cur = session.execute(
        select(Rule)
        .where(Rule.account_id == account_id, Rule.rule_key == key, Rule.superseded_at.is_(None))
        .with_for_update()
    ).scalar_one_or_none()
    version = 1
    if cur is not None:
        if cur.kind != body.kind:
            raise ConflictError(
                N_("rule %(key)s is a %(kind)s rule; use a new key for a %(new_kind)s rule"),
                key=key,
                kind=cur.kind,
                new_kind=body.kind,
            )
        cur.superseded_at = now
        version = cur.version + 1
    rule = Rule(
        account_id=account_id,
        rule_key=key,
        version=version,
        kind=body.kind,
        name=body.name,
        priority=body.priority,
        conditions=[c.model_dump(exclude_none=True) for c in body.conditions],
        action=body.action,
        active=body.active,
        superseded_at=None,
        created_by=actor,
        created_at=now,
    )
    session.add(rule)
    session.flush()
    bump_rules_version(session, account_id)
    return rule


def put_carrier(
    session: Session, account_id: int, code: str, body: CarrierIn, actor: str, now: datetime
) -> Carrier:
    c = session.get(Carrier, (account_id, code))
    if c is None:
        c = Carrier(
            account_id=account_id, code=code, **body.model_dump(), changed_by=actor, changed_at=now
        )
        session.add(c)
    else:
        c.name, c.cost_cents, c.unreachable = body.name, body.cost_cents, list(body.unreachable)
        c.changed_by, c.changed_at = actor, now
    session.flush()
    bump_rules_version(session, account_id)
    return c


def list_carriers(session: Session, account_id: int) -> list[Carrier]:
    return list(
        session.execute(
            select(Carrier).where(Carrier.account_id == account_id).order_by(Carrier.code)
        ).scalars()
    )


# --- addresses ----------------------------------------------------------------------

_SUFFIXES: Final = (
    "维吾尔自治区",
    "壮族自治区",
    "回族自治区",
    "特别行政区",
    "自治区",
    "自治州",
    "省",
    "市",
    "地区",
    "盟",
    "区",
    "县",
)


@functools.lru_cache(maxsize=4096)
def region(name: str | None) -> str:
    """A region name without its administrative suffix (湖南省 → 湖南), for comparing.

    Cached: the audit asks this for every order and condition, and China has a few
    thousand region names.
    """
    name = (name or "").strip()
    for s in _SUFFIXES:
        if name.endswith(s) and len(name) > len(s) + 1:
            return name[: -len(s)]
    return name


@dataclass(frozen=True)
class Parsed:
    province: str | None
    city: str | None
    district: str | None
    adcode: str | None


@functools.lru_cache(maxsize=20_000)
def parse_region(text: str) -> Parsed:
    """Province, city and district of a Chinese address by ``cpca`` (offline data, bundled)."""
    import cpca

    rec = cpca.transform([text]).to_dict("records")[0]

    def s(v: Any) -> str | None:
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)

    return Parsed(s(rec.get("省")), s(rec.get("市")), s(rec.get("区")), s(rec.get("adcode")))


def check_address(r: dict[str, Any]) -> tuple[bool, Said, Parsed]:
    """Complete and valid: province, city and district exist and agree; a street address."""
    parsed = parse_region(f"{r.get('province', '')}{r.get('city', '')}{r.get('district') or ''}")
    problems: list[Said] = []
    province, city, district = (str(r.get(f)) for f in ("province", "city", "district"))
    if parsed.province is None:
        problems.append(
            sentence(N_("province '%(province)s' is not a Chinese province"), province=province)
        )
    elif region(parsed.province) != region(r.get("province")):
        problems.append(
            sentence(
                N_("province '%(province)s' does not match %(parsed)s"),
                province=province,
                parsed=parsed.province,
            )
        )
    if parsed.province and (
        parsed.city is None
        or (parsed.city != "市辖区" and region(parsed.city) != region(r.get("city")))
    ):
        problems.append(
            sentence(
                N_("city '%(city)s' is not in %(province)s"), city=city, province=parsed.province
            )
        )
    if not r.get("district") or parsed.district is None:
        problems.append(
            sentence(
                N_("district '%(district)s' missing or not in %(city)s"),
                district=district,
                city=city,
            )
        )
    if len(str(r.get("address", "")).strip()) < 4:
        problems.append(sentence(N_("street address too short")))
    if problems:
        return False, sentence(LIST, items=problems), parsed
    return (
        True,
        sentence(
            N_("address parsed as %(province)s %(city)s %(district)s (adcode %(adcode)s)"),
            province=str(parsed.province),
            city=str(parsed.city),
            district=str(parsed.district),
            adcode=str(parsed.adcode),
        ),
        parsed,
    )


def reaches(carrier: Carrier | CarrierView, r: dict[str, Any]) -> Said | None:
    """Why ``carrier`` does not deliver to the address, or None."""
    regions = {region(r.get(f)) for f in REGION_FIELDS if r.get(f)}
    for u in carrier.unreachable:
        if region(u) in regions:
            return sentence(
                N_("%(carrier)s does not deliver to %(region)s"), carrier=carrier.code, region=u
            )
        if u in str(r.get("address", "")):
            return sentence(
                N_("%(carrier)s does not deliver to addresses with '%(word)s'"),
                carrier=carrier.code,
                word=u,
            )
    return None


# --- the engine ---------------------------------------------------------------------


@dataclass
class Facts:
    """What rules look at, built once per order."""

    #: The order's total in yuan: Decimal, as money always is (the rule's value is read as one).
    total: Decimal
    recipient: dict[str, Any]
    day: date
    weight_g: int
    channel: str
    buyer_carrier: str | None
    seller_carrier: str | None
    skus: list[str]

    def get(self, name: str) -> Any:
        if name in {"province", "city", "district", "address"}:
            return self.recipient.get(name)
        if name == "date":
            return self.day
        if name == "sku":
            return self.skus
        return getattr(self, name)


def _cmp(value: Any, want: Any, fld: str) -> Any:
    if fld == "date":
        return date.fromisoformat(str(want))
    if fld == "total":
        # Money compares as Decimal: the rule's number read from its text ("999.99", not the
        # binary float nearest to it), so a total of exactly 999.99 is "gte 999.99".
        return Decimal(str(want))
    if fld == "weight_g":
        return float(want)
    return want


def order_total(total_cents: int) -> Decimal:
    """The order's total in yuan, for the rules (cents are what the order stores)."""
    return (Decimal(total_cents) / 100).quantize(Decimal("0.01"))


def holds(c: Condition, facts: Facts) -> tuple[bool, Said]:
    """Whether the condition holds, and why, as a sentence (values as the API shows them)."""
    f = c.field
    v = facts.get(f)
    if c.op == "present":
        return bool(v), sentence(N_("%(field)s present"), field=f)
    if c.op == "absent":
        return not v, sentence(N_("%(field)s absent"), field=f)
    if v is None:
        return False, sentence(N_("%(field)s missing"), field=f)
    vals = v if f == "sku" else [v]
    if c.op in {"in", "not_in"}:
        want_list = [_cmp(v, w, f) for w in c.value]  # type: ignore[union-attr]
        if f in REGION_FIELDS:
            hit = any(region(x) == region(str(w)) for x in vals for w in want_list)
        else:
            hit = any(x in want_list for x in vals)
        ok = hit if c.op == "in" else not hit
        said = (
            N_("%(field)s %(value)s in %(want)s")
            if hit
            else N_("%(field)s %(value)s not in %(want)s")
        )
        return ok, sentence(said, field=f, value=str(v), want=str(c.value))
    if c.op == "between":
        lo, hi = (_cmp(v, w, f) for w in c.value)  # type: ignore[union-attr]
        ok = any(lo <= x <= hi for x in vals)
        said = (
            N_("%(field)s %(value)s in [%(low)s, %(high)s]")
            if ok
            else N_("%(field)s %(value)s outside [%(low)s, %(high)s]")
        )
        return ok, sentence(said, field=f, value=str(v), low=str(lo), high=str(hi))
    want = _cmp(v, c.value, f)
    for x in vals:
        if c.op in {"eq", "ne"}:
            same = region(str(x)) == region(str(want)) if f in REGION_FIELDS else x == want
            ok = same if c.op == "eq" else not same
        elif c.op == "contains":
            ok = str(want) in str(x)
        else:
            ok = {"gt": x > want, "gte": x >= want, "lt": x < want, "lte": x <= want}[c.op]
        if ok:
            return True, sentence(HELD_BY_OP[c.op], field=f, value=str(x), want=str(want))
    return False, sentence(
        N_("%(field)s %(value)s not %(op)s %(want)s"),
        field=f,
        value=str(v),
        op=c.op,
        want=str(want),
    )


@dataclass
class Verdict:
    decisions: list[Decision] = field(default_factory=list)
    carrier: str | None = None
    carrier_source: str | None = None
    gifts: list[tuple[str, int, Decision]] = field(default_factory=list)

    @property
    def held(self) -> list[Decision]:
        return [d for d in self.decisions if d.outcome == "hold"]


@dataclass(frozen=True, slots=True)
class RuleView:
    """A rule's fields as plain values: the engine reads them for every order it audits."""

    id: int
    kind: str
    name: str
    rule_key: str
    version: int
    action: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CarrierView:
    code: str
    cost_cents: int
    unreachable: tuple[str, ...]


@dataclass(frozen=True)
class Ruleset:
    """An account's carriers and current rules, their conditions validated: what an
    :class:`Engine` applies. Never changed once made, so one may serve many requests
    (cloud/orders/rule_cache.py keeps one per account in the process)."""

    carriers: dict[str, CarrierView]
    conditions: dict[int, list[Condition]]
    #: Stored rules that cannot be evaluated (saved before the bounds of RuleIn): skipped,
    #: each with a task and an alarm (``Engine._skipped``).
    broken: dict[int, tuple[RuleView, str]]
    views: tuple[RuleView, ...]
    #: Each evaluable rule's place in the run order: (priority, rule_key).
    priority: dict[int, tuple[int, str]]


def load_ruleset(session: Session, account_id: int) -> Ruleset:
    """Read and validate the account's carriers and current rules (two statements)."""
    carriers = {
        c.code: CarrierView(c.code, c.cost_cents, tuple(c.unreachable))
        for c in list_carriers(session, account_id)
    }
    conditions: dict[int, list[Condition]] = {}
    broken: dict[int, tuple[RuleView, str]] = {}
    views: list[RuleView] = []
    priority: dict[int, tuple[int, str]] = {}
    for r in current_rules(session, account_id):
        view = RuleView(r.id, r.kind, r.name, r.rule_key, r.version, r.action)
        try:
            RuleIn.model_validate(
                {
                    "kind": r.kind,
                    "name": r.name or "-",
                    "conditions": r.conditions,
                    "action": r.action,
                }
            )
            conditions[r.id] = [Condition.model_validate(c) for c in r.conditions]
        except (ValidationError, TypeError, ValueError) as err:
            broken[r.id] = (view, _short(err))
            continue
        views.append(view)
        priority[r.id] = (r.priority, r.rule_key)
    return Ruleset(carriers, conditions, broken, tuple(views), priority)


def bump_rules_version(session: Session, account_id: int) -> None:
    """Mark the account's rules and carriers changed, in the transaction that changes them:
    every hub process's cached :class:`Ruleset` of the account is read again (rule_cache)."""
    session.execute(
        update(Account)
        .where(Account.id == account_id)
        .values(rules_version=Account.rules_version + 1)
    )


class Engine:
    """The account's current rules and carriers, loaded once and applied to many orders."""

    def __init__(self, session: Session, account_id: int, ruleset: Ruleset | None = None) -> None:
        self.session, self.account_id = session, account_id
        loaded = ruleset if ruleset is not None else load_ruleset(session, account_id)
        # Copies: a dry run replaces one rule in its engine (rule_dry_run.py), and a
        # ruleset from the cache is shared by every request of the process.
        self.carriers = loaded.carriers
        self.conditions = dict(loaded.conditions)
        self.broken = dict(loaded.broken)
        self.views = list(loaded.views)
        self.priority = dict(loaded.priority)
        self._reported: set[int] = set()
        #: Rules that failed on the order being evaluated (reset for each order).
        self._failed: dict[int, tuple[RuleView, str]] = {}

    def _match(self, rule: RuleView, facts: Facts) -> tuple[bool, Said]:
        why: list[Said] = []
        for cond in self.conditions[rule.id]:
            try:
                ok, text = holds(cond, facts)
            except (TypeError, ValueError, ArithmeticError, KeyError, AttributeError) as err:
                # A rule that fails on an order is skipped for it, never a 500 for every
                # order of the account (issue 13, finding 7).
                self._failed.setdefault(rule.id, (rule, f"{type(err).__name__}: {err}"))
                return False, sentence(N_("cannot be evaluated: %(error)s"), error=str(err))
            if not ok:
                return False, text
            why.append(text)
        if not why:
            return True, sentence(N_("no conditions (default)"))
        return True, sentence(LIST, items=why)

    def _skipped(self, verdict: Verdict, order_no: str | None, now: datetime | None) -> None:
        """A decision on the order for each broken rule, and once per rule a task for a
        person and an alarm in the log."""
        for rule_id, (rule, why) in {**self.broken, **self._failed}.items():
            verdict.decisions.append(
                Decision(
                    "rule",
                    "skip",
                    N_(
                        "rule %(rule)s@%(version)s skipped: it cannot be evaluated (%(why)s);"
                        " save it again"
                    ),
                    rule.rule_key,
                    rule.version,
                    {"rule": rule.rule_key, "version": rule.version, "why": why},
                )
            )
            if rule_id in self._reported or now is None:
                continue
            self._reported.add(rule_id)
            log.error(
                "rule %s@%s of account %s cannot be evaluated and is skipped: %s",
                rule.rule_key,
                rule.version,
                self.account_id,
                why,
            )
            head = f"rule {rule.rule_key}@{rule.version} cannot be evaluated"
            open_already = self.session.execute(
                select(Task.id).where(
                    Task.account_id == self.account_id,
                    Task.kind == "rule_broken",
                    Task.status == "open",
                    Task.detail.startswith(head, autoescape=True),
                )
            ).first()
            if open_already is None:
                open_task(
                    self.session,
                    self.account_id,
                    "rule_broken",
                    N_(
                        "rule %(rule)s@%(version)s cannot be evaluated and is skipped for every"
                        " order (%(why)s); first skipped for order %(order)s. Save the rule again"
                        " within the bounds (PUT /api/v1/rules/%(rule)s) or deactivate it."
                    ),
                    now,
                    params={
                        "rule": rule.rule_key,
                        "version": rule.version,
                        "why": why,
                        "order": order_no,
                    },
                    order_no=order_no,
                )

    def courier(self, facts: Facts, verdict: Verdict) -> None:
        r = facts.recipient
        if facts.seller_carrier:
            c = self.carriers.get(facts.seller_carrier)
            chosen = facts.seller_carrier
            why = (
                reaches(c, r) if c else sentence(N_("unknown carrier %(carrier)s"), carrier=chosen)
            )
            if why is None:
                verdict.carrier, verdict.carrier_source = chosen, "seller"
                verdict.decisions.append(
                    Decision(
                        "courier",
                        "assign",
                        N_("seller chose %(carrier)s"),
                        params={"carrier": chosen},
                    )
                )
                return
            verdict.decisions.append(
                Decision(
                    "courier",
                    "skip",
                    N_("seller chose %(carrier)s, but %(why)s"),
                    params={"carrier": chosen, "why": why},
                )
            )
        for rule in self.views:
            if rule.kind != "courier":
                continue
            ok, why = self._match(rule, facts)
            if not ok:
                continue
            candidates: list[str]
            use = rule.action.get("use")
            if use == "buyer_choice":
                candidates = [facts.buyer_carrier] if facts.buyer_carrier else []
            elif use == "lowest_cost":
                candidates = [
                    c.code
                    for c in sorted(self.carriers.values(), key=lambda c: (c.cost_cents, c.code))
                ]
            else:
                candidates = [rule.action["carrier"]]
            for code in candidates:
                c = self.carriers.get(code)
                blocked = (
                    reaches(c, r)
                    if c
                    else sentence(N_("%(carrier)s is not a carrier of this account"), carrier=code)
                )
                if blocked is None:
                    verdict.carrier, verdict.carrier_source = (
                        code,
                        f"{rule.rule_key}@{rule.version}",
                    )
                    verdict.decisions.append(
                        Decision(
                            "courier",
                            "assign",
                            N_("%(rule)s: %(why)s → %(carrier)s"),
                            rule.rule_key,
                            rule.version,
                            {"rule": rule.name, "why": why, "carrier": code},
                        )
                    )
                    return
                if use != "lowest_cost":
                    verdict.decisions.append(
                        Decision(
                            "courier",
                            "skip",
                            N_("%(rule)s matched (%(why)s) but %(blocked)s"),
                            rule.rule_key,
                            rule.version,
                            {"rule": rule.name, "why": why, "blocked": blocked},
                        )
                    )
        verdict.decisions.append(
            Decision(
                "reach",
                "hold",
                N_(
                    "no courier rule gives a carrier that reaches %(province)s %(city)s %(address)s"
                ),
                params={f: str(r.get(f)) for f in ("province", "city", "address")},
            )
        )

    def evaluate(
        self,
        facts: Facts,
        *,
        remark: str | None,
        prices: list[tuple[str, int, int | None]],
        stock_ok: bool,
        stock_why: Said,
        order_no: str | None = None,
        now: datetime | None = None,
    ) -> Verdict:
        v = Verdict()
        self._failed = {}
        ok, why, _ = check_address(facts.recipient)
        v.decisions.append(Decision.said("address", "pass" if ok else "hold", why))
        v.decisions.append(Decision.said("stock", "pass" if stock_ok else "hold", stock_why))
        if remark and remark.strip():
            v.decisions.append(Decision.said("remark", "hold", remark_hold(remark.strip())))
        else:
            v.decisions.append(Decision("remark", "pass", N_("no buyer remark")))
        bad = [
            sentence(
                N_("%(sku)s at %(price)s below minimum %(minimum)s"),
                sku=sku,
                price=yuan(price),
                minimum=yuan(low),
            )
            if low is not None and price < low
            else sentence(N_("%(sku)s at %(price)s"), sku=sku, price=yuan(price))
            for sku, price, low in prices
            if price <= 0 or (low is not None and price < low)
        ]
        v.decisions.append(
            Decision("price", "hold", LIST, params={"items": bad})
            if bad
            else Decision("price", "pass", N_("prices at or above minimum"))
        )
        for rule in self.views:
            if rule.kind == "courier":
                continue
            matched, why = self._match(rule, facts)
            if not matched:
                continue
            if rule.kind == "hold":
                v.decisions.append(
                    Decision(
                        "hold_rule",
                        "hold",
                        N_("%(rule)s: %(hold)s (%(why)s)"),
                        rule.rule_key,
                        rule.version,
                        {"rule": rule.name, "hold": str(rule.action["hold"]), "why": why},
                    )
                )
            else:
                d = Decision(
                    "gift",
                    "add",
                    N_("%(rule)s: %(why)s → gift %(sku)s × %(qty)s"),
                    rule.rule_key,
                    rule.version,
                    {
                        "rule": rule.name,
                        "why": why,
                        "sku": str(rule.action["gift_sku"]),
                        "qty": str(rule.action.get("qty", 1)),
                    },
                )
                v.gifts.append((rule.action["gift_sku"], int(rule.action.get("qty", 1)), d))
        if ok:
            self.courier(facts, v)
        if self.broken or self._failed:
            self._skipped(v, order_no, now)
        return v


def _short(err: Exception) -> str:
    if isinstance(err, ValidationError):
        e = err.errors()[0]
        return f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}"[:300]
    return str(err)[:300]


def audit_day(now: datetime) -> date:
    return now.astimezone(CHINA).date()
