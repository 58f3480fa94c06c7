"""Domain errors: one base, one JSON shape; the API maps them in one handler (cloud/app.py).

Every error the domain raises for a caller to see is a :class:`DomainError`. Its ``status``
is the HTTP status the API answers with, and :meth:`DomainError.body` the JSON it sends:
FastAPI's own shape, so a client reads every error alike — ``{"detail": "why"}``, or for
input refused (422) ``{"detail": [{"loc": [...], "msg": "why", "type": "..."}]}``, the
list FastAPI sends when a request fails validation.

A sentence is a gettext message id with named parameters: ``ConflictError(N_("order
%(order)s is %(status)s"), order=no, status=st)``. The API answers it in English, formatted
(``str(err)``, as it always has); the dashboard translates ``msgid`` with the page's
catalogue and formats the same parameters (cloud/web/mount.py). ``N_`` only marks the
sentence for ``pybabel extract`` (one of Babel's default keywords); a sentence raised
without it reaches the pages in English.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Final


def N_(msgid: str) -> str:
    """Mark a domain sentence for translation (extracted by pybabel); returns it unchanged."""
    return msgid


# --- who did it -------------------------------------------------------------------------
#: The hub's own actors, as a history line, a decision or a ledger movement names who did it:
#: a name in the page's language (English: the code, as the API says it).
SYSTEM_ACTORS: Final = {
    "auto-audit": N_("auto-audit"),
    "channel": N_("channel sync"),
    "waybills": N_("e-waybill service"),
    "hub": N_("hub"),
    "system": N_("system"),
    "cli": N_("command line"),
    "operator": N_("operator (command line)"),
    "seed-demo": N_("demo data"),
}
#: An actor with a kind before its name (cloud/auth.py ``Principal.actor`` "user:admin";
#: cloud/facts/ "node:wh1-pick-1"): the kind said in the page's language around the name.
#: A page shows a person by their login alone ("admin", issue 15: no "user:" prefix left on
#: a page, Chinese or English) and a node with the word for a node; the API keeps the code.
ACTOR_KINDS: Final = {
    "user": N_("user %(name)s"),
    "node": N_("node %(name)s"),
}
#: What an English page says for a kind whose message id is not the person's form itself:
#: a user by their login ("admin"), as the Chinese page does.
ENGLISH_KINDS: Final = {"user": "%(name)s"}
#: A sentence's parameters that name who did it ("changed by %(by)s"): said as
#: :func:`actor_in` says them, so a refusal on a Chinese page does not read "user:admin".
ACTOR_PARAMS: Final = frozenset({"actor", "by", "who"})


def actor_in(actor: Any, gettext: Callable[[str], str]) -> Any:
    """Who did it, as a page in the language of ``gettext`` names them: the hub's own actors
    by a name, a user by their login and a node by its id with the word for a node; anyone
    else (a person's name typed) as stored. The API's English (:func:`say` without a
    catalogue, the text stored in tasks and logs) keeps the code ("user:admin")."""
    if not isinstance(actor, str) or not actor:
        return "" if actor is None else actor
    if gettext is _identity:
        return actor
    if actor in SYSTEM_ACTORS:
        return gettext(SYSTEM_ACTORS[actor])
    kind, sep, name = actor.partition(":")
    if not sep or not name or kind not in ACTOR_KINDS:
        return actor
    said = gettext(ACTOR_KINDS[kind])
    if said == ACTOR_KINDS[kind]:  # English, the catalogue's source language
        said = ENGLISH_KINDS.get(kind, said)
    try:
        return said % {"name": name}
    except (KeyError, ValueError, TypeError):  # a broken translation: as stored
        return actor


def translate(
    msgid: str, params: dict[str, Any], english: str, gettext: Callable[[str], str]
) -> str:
    """``msgid`` in the language of ``gettext`` with ``params`` put in; ``english`` when the
    sentence has no id or its translation is broken."""
    text = gettext(msgid) if msgid else english
    try:
        values = {
            k: actor_in(v, gettext) if k in ACTOR_PARAMS else _word(v, gettext)
            for k, v in params.items()
        }
        return text % values if values else text
    except (KeyError, ValueError, TypeError):  # a broken translation: the English one
        return english


def _word(value: Any, gettext: Callable[[str], str]) -> Any:
    """A parameter in the language of ``gettext``: a nested :class:`Sentence` translated
    with its own parameters; a word the catalogue knows (an order's status: "saved",
    "audited") translated too; anything else (order numbers, codes, names) has no entry
    and stays as it is."""
    if isinstance(value, Sentence):
        return value.translated(gettext)
    return gettext(value) if isinstance(value, str) and value else value


class Sentence:
    """A sentence inside another: a reason put into a refusal or a task's detail (the
    ledger's "not enough X" inside "stock would go negative: …"), kept as its message id
    and parameters so the pages translate it with the sentence around it. ``str()`` is its
    English text, so the API's answers and logs read as before."""

    __slots__ = ("msgid", "params")

    def __init__(self, msgid: str, /, **params: Any) -> None:
        self.msgid = msgid
        self.params = params

    def __str__(self) -> str:
        return self.msgid % self.params if self.params else self.msgid

    def __repr__(self) -> str:
        return f"Sentence({self.msgid!r}, **{self.params!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sentence) and (self.msgid, self.params) == (
            other.msgid,
            other.params,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable params: not a dict key

    def translated(self, gettext: Callable[[str], str]) -> str:
        return translate(self.msgid, self.params, str(self), gettext)


class InvalidValue(ValueError):
    """A request model's own check refused a value (raised in a pydantic validator), as a
    message id with named parameters like :class:`DomainError`'s. Pydantic reports it as a
    ``value_error`` whose text is the English sentence, so the API's 422 is unchanged; the
    dashboard finds it in the error's context and shows it in the page's language
    (cloud/web/refusals.py)."""

    def __init__(self, message: str, /, **params: Any) -> None:
        self.msgid = message
        self.params = params
        super().__init__(message % params if params else message)

    def translated(self, gettext: Callable[[str], str]) -> str:
        return translate(self.msgid, self.params, str(self), gettext)


class DomainError(Exception):
    """Something the domain refuses; the message says why."""

    status: ClassVar[int] = 409

    def __init__(self, message: str = "", /, **params: Any) -> None:
        #: The sentence before formatting (a gettext message id) and what goes into it.
        self.msgid = message
        self.params = params
        super().__init__(message % params if params else message)

    def translated(self, gettext: Callable[[str], str]) -> str:
        """The sentence in the language of ``gettext`` (English when it has no translation)."""
        return translate(self.msgid, self.params, str(self), gettext)

    def body(self) -> dict[str, Any]:
        return {"detail": str(self)}

    def headers(self) -> dict[str, str]:
        """Headers the answer carries (e.g. ``Retry-After`` with a 429 or 503)."""
        return {}


class ConflictError(DomainError):
    """A request conflicts with the hub's state (HTTP 409); the message says why."""

    status = 409


class NotFoundError(DomainError):
    """The object does not exist in the caller's account (HTTP 404)."""

    status = 404


class InvalidError(DomainError):
    """Well-formed input that the domain refuses (HTTP 422), e.g. an unknown SKU in an order."""

    status = 422

    def __init__(self, message: str, field: str | None = None, /, **params: Any) -> None:
        super().__init__(message, **params)
        self.field = field

    def body(self) -> dict[str, Any]:
        loc = ["body", self.field] if self.field else ["body"]
        return {"detail": [{"loc": loc, "msg": str(self), "type": "value_error"}]}


class ForbiddenError(DomainError):
    """The caller is known but lacks a scope this action needs (HTTP 403); the message names
    it. For checks only the domain can make (what a task's action books), beside the
    route scopes the API checks (cloud/api/deps.py)."""

    status = 403


class Unauthenticated(DomainError):
    """No valid credentials (HTTP 401): a bad, expired or unknown token or password."""

    status = 401


# --- a sentence kept as JSON ---------------------------------------------------------
# A task's detail (cloud/tasks.py), an order's history line (cloud/orders/reasons.py) and a
# ledger movement's reason (cloud/stock/ledger.py) keep a sentence as its message id and
# parameters, ``{"msgid", "params"}``, and say it in a page's language with :func:`say`.
# They live here, below every domain package, so the ledger (beside cloud.tasks, which it
# does not import) writes its reasons the same way.

Gettext = Callable[[str], str]
#: A sentence as JSON keeps it: ``{"msgid", "params"}`` (:func:`sentence`).
Said = dict[str, Any]


def _identity(text: str) -> str:
    return text


def _plain(value: Any) -> Any:
    """A parameter as JSON can keep it: sentences and lists as such, numbers as numbers,
    anything else (a Decimal, a date) as its text."""
    if isinstance(value, Sentence):  # a reason put into a refusal (cloud/errors.py)
        return {"msgid": value.msgid, "params": plain_params(value.params)}
    if isinstance(value, Mapping):
        return {"msgid": str(value["msgid"]), "params": plain_params(value.get("params"))}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def plain_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    return {str(k): _plain(v) for k, v in (params or {}).items()}


def sentence(msgid: str, /, **params: Any) -> dict[str, Any]:
    """A sentence to put inside a task's detail (a parameter), translated with it."""
    return {"msgid": msgid, "params": plain_params(params)}


def _value(value: Any, gettext: Gettext) -> Any:
    if isinstance(value, dict) and "msgid" in value:
        return say(str(value["msgid"]), value.get("params") or {}, gettext)
    if isinstance(value, list):
        return "; ".join(str(_value(v, gettext)) for v in value)
    # A word the catalogue knows (an order's status) is translated; codes and names have
    # no entry and stay as they are (as cloud.errors.translate does).
    return gettext(value) if isinstance(value, str) and value else value


def say(msgid: str, params: Mapping[str, Any], gettext: Gettext = _identity) -> str:
    """``msgid`` in the language of ``gettext`` with ``params`` put in; English (the
    identity) by default. A broken translation falls back to the English sentence."""
    text = gettext(msgid)
    try:
        values = {
            k: actor_in(v, gettext) if k in ACTOR_PARAMS else _value(v, gettext)
            for k, v in params.items()
        }
        return text % values if values else text
    except (KeyError, ValueError, TypeError):
        if gettext is _identity:
            raise  # the sentence itself is broken: a defect at the call site
        return say(msgid, params)


def english(reason: str | Said | None) -> str | None:
    """The English of a history line's reason: a sentence said, a person's words as typed."""
    if reason is None or isinstance(reason, str):
        return reason
    return say(str(reason["msgid"]), reason.get("params") or {})


def written(reason: str | Said | None, limit: int = 2000) -> dict[str, Any]:
    """The ``reason``, ``message`` and ``params`` columns of a history line. A sentence
    (:func:`sentence`) keeps its message id and parameters beside its English;
    a person's words (``str``) are kept as typed, without a message id."""
    if reason is None or isinstance(reason, str):
        return {"reason": reason[:limit] if reason else reason, "message": None, "params": None}
    params = reason.get("params") or {}
    return {
        "reason": say(str(reason["msgid"]), params)[:limit],
        "message": str(reason["msgid"]),
        "params": params or None,
    }
