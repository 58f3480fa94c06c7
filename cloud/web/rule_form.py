"""The rule editor's form, generated from the API's request models (cloud/orders/audit_rules.py
``RuleIn``, ``Condition`` and the action model of each kind) rather than written per kind:
a field per parameter with the model's bounds, the posted form read back into the API's body,
and the model's refusals put beside the field they are about.

A field's name is its path in the API's body: ``name``, ``priority``, ``active``,
``action.carrier``; a condition row ``c{i}.field``, ``c{i}.op``, ``c{i}.value``. A list value
(``in``, ``not_in``, ``between``) is typed comma-separated; a value holding a comma is edited
in the advanced (JSON) editor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import BaseModel, ValidationError

from cloud.orders.audit_rules import (
    NUMERIC_FIELDS,
    Condition,
    CourierAction,
    GiftAction,
    HoldAction,
    RuleIn,
)
from cloud.web import refusals

#: The action's model per kind, as RuleIn validates it.
ACTIONS: Final[dict[str, type[BaseModel]]] = {
    "courier": CourierAction,
    "gift": GiftAction,
    "hold": HoldAction,
}
#: Blank condition rows offered below the rule's own (a blank row is no condition).
SPARE_ROWS: Final = 2
LIST_OPS: Final = {"in", "not_in", "between"}
_SPLIT: Final = re.compile(r"\s*[,，]\s*")


@dataclass
class Input:
    """One form control, as the template draws it."""

    name: str
    label: str
    widget: str  # select | number | text | checkbox
    value: Any = None
    options: list[str] = field(default_factory=list)
    required: bool = False
    minimum: int | float | None = None
    maximum: int | float | None = None
    maxlength: int | None = None
    error: str | None = None


@dataclass
class RuleForm:
    kind: str
    top: list[Input]
    action: list[Input]
    rows: list[list[Input]]
    row_errors: list[str | None]
    #: A refusal no single field owns (e.g. "give exactly one of carrier or use").
    errors: list[str] = field(default_factory=list)


def _schema_inputs(
    model: type[BaseModel], prefix: str, values: dict[str, Any], skip: tuple[str, ...] = ()
) -> list[Input]:
    """A control per field of ``model``, from its JSON schema (type, enum, bounds)."""
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    out = []
    for name, prop in schema["properties"].items():
        if name in skip:
            continue
        optional = False
        if "anyOf" in prop:
            kinds = [p for p in prop["anyOf"] if p.get("type") != "null"]
            optional = len(kinds) < len(prop["anyOf"])
            prop = {**prop, **kinds[0]} if len(kinds) == 1 else {**prop, "type": "string"}
        ctl = Input(
            name=f"{prefix}{name}",
            label=name,
            widget="text",
            value=values.get(name, prop.get("default")),
            required=name in required and not optional,
        )
        if "enum" in prop:
            ctl.widget, ctl.options = "select", ([""] if optional else []) + list(prop["enum"])
        elif prop.get("type") == "boolean":
            ctl.widget = "checkbox"
        elif prop.get("type") in ("integer", "number"):
            ctl.widget, ctl.minimum, ctl.maximum = (
                "number",
                prop.get("minimum"),
                prop.get("maximum"),
            )
        else:
            ctl.maxlength = prop.get("maxLength")
        out.append(ctl)
    return out


def shown_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def build(
    kind: str,
    body: dict[str, Any],
    errors: dict[str, str] | None = None,
    general: list[str] | None = None,
) -> RuleForm:
    """The form for a rule of ``kind`` holding ``body`` (RuleIn's shape, or as posted)."""
    errors = errors or {}
    top = _schema_inputs(RuleIn, "", body, skip=("kind", "conditions", "action"))
    action = _schema_inputs(ACTIONS[kind], "action.", body.get("action") or {})
    conds = list(body.get("conditions") or [])
    rows, row_errors = [], []
    for i in range(len(conds) + SPARE_ROWS):
        c = conds[i] if i < len(conds) else {}
        row = _schema_inputs(Condition, f"c{i}.", {**c, "value": shown_value(c.get("value"))})
        for ctl in row:
            ctl.required = False  # a blank row is no condition
            if ctl.widget == "select":
                ctl.options = ["", *[o for o in ctl.options if o]]
            if ctl.name.endswith(".value"):
                # one control for a text, a number or a list: typed as text, read by read()
                ctl.widget, ctl.minimum, ctl.maximum, ctl.maxlength = "text", None, None, 2000
        rows.append(row)
        row_errors.append(errors.get(f"c{i}"))
    for ctl in [*top, *action, *(c for r in rows for c in r)]:
        ctl.error = errors.get(ctl.name)
    return RuleForm(kind, top, action, rows, row_errors, list(general or []))


def _scalar(text: str, numeric: bool) -> Any:
    if numeric:
        for kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                pass
    return text  # the model says what is wrong with it


def read(kind: str, form: Any) -> dict[str, Any]:
    """The posted form as the API's body (not validated yet: ``validate`` does). Blank
    condition rows are dropped, so the rows are numbered anew when the form is drawn again."""
    body: dict[str, Any] = {"kind": kind, "conditions": [], "action": {}}
    for ctl in _schema_inputs(RuleIn, "", {}, skip=("kind", "conditions", "action")):
        raw = form.get(ctl.name)
        if ctl.widget == "checkbox":
            body[ctl.name] = raw is not None
        elif raw is not None and str(raw).strip() != "":
            body[ctl.name] = str(raw).strip()
    for ctl in _schema_inputs(ACTIONS[kind], "action.", {}):
        raw = str(form.get(ctl.name) or "").strip()
        if raw:
            body["action"][ctl.name.removeprefix("action.")] = raw
    i = 0
    while f"c{i}.field" in form:
        fld = str(form.get(f"c{i}.field") or "").strip()
        op = str(form.get(f"c{i}.op") or "").strip()
        text = str(form.get(f"c{i}.value") or "").strip()
        if fld or op or text:
            cond: dict[str, Any] = {"field": fld, "op": op}
            numeric = fld in NUMERIC_FIELDS
            if op in LIST_OPS:
                cond["value"] = [_scalar(v, numeric) for v in _SPLIT.split(text) if v]
            elif text:
                cond["value"] = _scalar(text, numeric)
            body["conditions"].append(cond)
        i += 1
    return body


def validate(
    body: dict[str, Any], gettext: refusals.Gettext = str
) -> tuple[RuleIn | None, dict[str, str], list[str]]:
    """``body`` validated by the API's models; else the errors by form field, and those of
    the whole rule, in the language of ``gettext`` (cloud/web/refusals.py)."""

    def _msg(e: Any) -> str:
        return refusals.sentence(gettext, e)

    errors: dict[str, str] = {}
    general: list[str] = []
    try:
        ACTIONS[body["kind"]].model_validate(body.get("action") or {})
    except ValidationError as err:
        for e in err.errors():
            if e["loc"]:
                errors.setdefault(f"action.{e['loc'][0]}", _msg(e))
            else:
                general.append(_msg(e))
    try:
        rule = RuleIn.model_validate(body)
    except ValidationError as err:
        for e in err.errors():
            loc = e["loc"]
            if loc and loc[0] == "conditions" and len(loc) > 1 and isinstance(loc[1], int):
                # Numbered as the rows are drawn again (blank rows dropped): build(body).
                row = loc[1]
                if len(loc) > 2 and loc[2] in ("field", "op", "value"):
                    errors.setdefault(f"c{row}.{loc[2]}", _msg(e))
                else:
                    errors.setdefault(f"c{row}", _msg(e))
            elif loc and loc[0] != "action":
                errors.setdefault(str(loc[0]), _msg(e))
            elif not errors and not general:
                general.append(_msg(e))
        return None, errors, general
    if errors or general:
        return None, errors, general
    return rule, {}, []
