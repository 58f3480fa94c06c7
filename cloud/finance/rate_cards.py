"""A courier's rate card: what a parcel should cost, from its weight and where it goes.

How Chinese couriers price a parcel (sources in docs/finance.md "Courier bills"):

* a **first weight** (首重, usually 1 kg) at a fixed fee, and each **additional weight**
  (续重) step beyond it at a price per kg — both per **zone**, the zone being the
  destination province (the same shape as a freight template: WeChat's
  ``freight_calc_method_list`` per ``province_name`` with a first and an additional
  amount; kuaidi100's price API answers ``firstPrice`` and ``overPrice``);
* a **volumetric weight** L×W×H (cm) / divisor (cm³ per kg; 6000 is the common divisor in
  China, research/finance-einvoice.md; some e-commerce services bill no volume at all)
  when it exceeds the actual weight;
* the courier's **rounding** of the weight: SF rounds to 0.01 kg half up, then up to the
  next 0.5 kg, and anything up to 1 kg is 1 kg (a published SQL function of SF billing,
  cnblogs ZkbFighting 2019-08-17); the e-commerce couriers commonly round up to the whole
  kg (unverified: a rule of thumb, hence configurable per card).

All of it is a card's settings (``precision_g``, ``step_g``, ``first_g``, the divisor), in
whole grams; the fee is Decimal, half up to the cent (cloud/finance/money.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db.courier_bill import CourierRateCard
from cloud.db.models import Carrier
from cloud.errors import N_, InvalidError, NotFoundError
from cloud.finance.money import half_up, money
from cloud.orders.audit_rules import region

ANY = "*"
_MAX_G = 1_000_000  # a tonne: beyond any parcel


@dataclass(frozen=True)
class Zone:
    name: str
    provinces: tuple[str, ...]
    first_fee: Decimal
    per_kg: Decimal


@dataclass(frozen=True)
class RateCard:
    carrier: str
    first_g: int
    step_g: int
    precision_g: int
    volumetric_divisor: int | None
    zones: tuple[Zone, ...]

    def zone_for(self, province: str | None) -> Zone | None:
        """The zone of ``province`` (湖南省 and 湖南 alike); the ``*`` zone for any other."""
        key = region(province)
        fallback = None
        for z in self.zones:
            if ANY in z.provinces:
                fallback = fallback or z
            elif key and key in {region(p) for p in z.provinces}:
                return z
        return fallback

    def charged_g(self, weighed_g: int, volumetric_g: int | None = None) -> int:
        """The weight the courier charges: the larger of actual and volumetric, rounded half
        up to ``precision_g``, at least the first weight, the rest up to whole steps."""
        w = max(weighed_g, volumetric_g or 0)
        if self.precision_g > 1:
            w = int(half_up(Decimal(w) / self.precision_g, Decimal(1))) * self.precision_g
        if w <= self.first_g:
            return self.first_g
        steps = -(-(w - self.first_g) // self.step_g)  # ceiling division
        return self.first_g + steps * self.step_g

    def volumetric_g(self, sides_cm: tuple[Decimal, Decimal, Decimal] | None) -> int | None:
        """L×W×H / divisor in grams (rounded up), or None without sides or a divisor."""
        if sides_cm is None or self.volumetric_divisor is None:
            return None
        length, width, height = sides_cm
        grams = length * width * height * 1000 / self.volumetric_divisor
        return int(grams.to_integral_value(rounding=ROUND_CEILING))

    def fee(self, zone: Zone, charged_g: int) -> Decimal:
        """First fee + the additional weight's kilograms × the zone's price, half up."""
        extra_kg = Decimal(charged_g - self.first_g) / 1000
        return zone.first_fee + half_up(extra_kg * zone.per_kg)


def parse(carrier: str, body: dict[str, Any]) -> RateCard:
    """A card from its JSON shape; refuses, with a sentence, what no courier bills by."""

    def grams(name: str, default: int | None = None) -> int:
        v = body.get(name, default)
        if isinstance(v, bool) or not isinstance(v, int) or not 0 < v <= _MAX_G:
            raise InvalidError(
                N_("%(name)s: give whole grams between 1 and 1000000"), name, name=name
            )
        return v

    divisor = body.get("volumetric_divisor")
    if divisor is not None and (
        isinstance(divisor, bool) or not isinstance(divisor, int) or not 0 < divisor <= 100_000
    ):
        raise InvalidError(
            N_("volumetric_divisor: give cm³ per kg as a whole number (6000), or null"),
            "volumetric_divisor",
        )
    raw = body.get("zones")
    if not isinstance(raw, list) or not raw or len(raw) > 100:
        raise InvalidError(N_("zones: give 1 to 100 zones"), "zones")
    zones = []
    seen: set[str] = set()
    for i, z in enumerate(raw):
        if not isinstance(z, dict):
            raise InvalidError(N_("zones[%(i)s] is not an object"), "zones", i=i)
        provinces = z.get("provinces")
        if (
            not isinstance(provinces, list)
            or not provinces
            or not all(isinstance(p, str) and 0 < len(p) <= 40 for p in provinces)
        ):
            raise InvalidError(
                N_('zones[%(i)s].provinces: give a list of provinces (or "*" for any other)'),
                "zones",
                i=i,
            )
        for p in provinces:
            key = region(p)
            if key in seen:
                raise InvalidError(N_("%(province)s is in more than one zone"), "zones", province=p)
            seen.add(key)
        first_fee = money(z.get("first_fee"), f"zones[{i}].first_fee")
        per_kg = money(z.get("per_kg"), f"zones[{i}].per_kg")
        if first_fee < 0 or per_kg < 0:
            raise InvalidError(N_("zones[%(i)s]: a fee cannot be negative"), "zones", i=i)
        name = str(z.get("name") or ",".join(provinces))[:60]
        zones.append(Zone(name, tuple(provinces), first_fee, per_kg))
    return RateCard(
        carrier=carrier,
        first_g=grams("first_g", 1000),
        step_g=grams("step_g", 1000),
        precision_g=grams("precision_g", 1),
        volumetric_divisor=divisor,
        zones=tuple(zones),
    )


def as_json(card: RateCard) -> dict[str, Any]:
    return {
        "carrier": card.carrier,
        "first_g": card.first_g,
        "step_g": card.step_g,
        "precision_g": card.precision_g,
        "volumetric_divisor": card.volumetric_divisor,
        "zones": [
            {
                "name": z.name,
                "provinces": list(z.provinces),
                "first_fee": str(z.first_fee),
                "per_kg": str(z.per_kg),
            }
            for z in card.zones
        ],
    }


def put(session: Session, account_id: int, card: RateCard, actor: str, now: datetime) -> RateCard:
    """Set the courier's card (replacing the one it had); the courier must exist."""
    known = session.get(Carrier, (account_id, card.carrier))
    if known is None:
        raise NotFoundError(N_("no courier %(carrier)s"), carrier=card.carrier)
    body = as_json(card)
    row = session.get(CourierRateCard, (account_id, card.carrier))
    if row is None:
        row = CourierRateCard(account_id=account_id, carrier=card.carrier)
        session.add(row)
    row.first_g, row.step_g, row.precision_g = card.first_g, card.step_g, card.precision_g
    row.volumetric_divisor = card.volumetric_divisor
    row.zones = body["zones"]
    row.changed_by, row.changed_at = actor, now
    session.flush()
    return card


def get(session: Session, account_id: int, carrier: str) -> RateCard | None:
    row = session.execute(
        select(CourierRateCard).where(
            CourierRateCard.account_id == account_id, CourierRateCard.carrier == carrier
        )
    ).scalar_one_or_none()
    if row is None:
        return None
    return RateCard(
        carrier=row.carrier,
        first_g=row.first_g,
        step_g=row.step_g,
        precision_g=row.precision_g,
        volumetric_divisor=row.volumetric_divisor,
        zones=tuple(
            Zone(z["name"], tuple(z["provinces"]), Decimal(z["first_fee"]), Decimal(z["per_kg"]))
            for z in row.zones
        ),
    )
