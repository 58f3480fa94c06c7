"""Every domain refusal is a gettext message id (issue 15, "zh_CN complete").

cloud/errors.py: a :class:`DomainError` is raised with ``N_("… %(x)s …")`` and named
parameters, so the API answers in English and the dashboard in the page's language. A
sentence built with an f-string, ``%`` or ``.format`` (or a bare literal, which pybabel does
not extract) reaches a Chinese page in English. This walks the hub's source with ``ast`` and
names every raise site that does that, and every ``N_`` sentence whose ``%(name)s``
placeholders and keyword arguments differ (a missing one raises KeyError at the raise)."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLOUD = ROOT / "cloud"
#: Left in English, file by file: node enrollment, an operator's command and its API (never on a page); a bearer token's
#: refusal, PyJWT's own English (API only).
NOT_YET = {"cloud/sync/enroll.py", "cloud/sync/enroll_cli.py", "cloud/auth.py"}
BASE = {"DomainError", "ConflictError", "InvalidError", "NotFoundError", "ForbiddenError"}
BASE |= {"Unauthenticated"}
PLACEHOLDER = re.compile(r"%\((\w+)\)")


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _is_n(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and _name(node.func) == "N_"


def error_classes(trees: list[ast.Module]) -> set[str]:
    """DomainError and every class of ours derived from it (by name, to a fixed point)."""
    names = set(BASE)
    classes = [n for t in trees for n in ast.walk(t) if isinstance(n, ast.ClassDef)]
    while True:
        more = {c.name for c in classes if any(_name(b) in names for b in c.bases)} - names
        if not more:
            return names
        names |= more


def _sentence_problem(arg: ast.expr, keywords: list[ast.keyword]) -> str | None:
    if isinstance(arg, ast.JoinedStr):
        return "an f-string"
    if _is_n(arg):
        call = arg
        assert isinstance(call, ast.Call)
        text = call.args[0] if call.args else None
        if not (isinstance(text, ast.Constant) and isinstance(text.value, str)):
            return "N_ of something that is not one literal"
        if any(k.arg is None for k in keywords):
            return None  # **params: cannot be checked here
        wanted = set(PLACEHOLDER.findall(text.value))
        given = {k.arg for k in keywords if k.arg is not None}
        if wanted != given:
            return f"placeholders {sorted(wanted)} but parameters {sorted(given)}"
        return None
    # A variable (a stored sentence, a class constant) passes; a literal anywhere in the
    # expression outside N_ (``x or "…"``, ``"…" % x``, ``"…".format()``) does not.
    marked = {id(n.args[0]) for n in ast.walk(arg) if _is_n(n) and n.args}
    for node in ast.walk(arg):
        if isinstance(node, ast.JoinedStr):
            return "an f-string"
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in marked
        ):
            return "a literal without N_"
    return None


def problems(tree: ast.Module, errors: set[str]) -> list[tuple[int, str]]:
    """(line, why) of each raise site in ``tree`` whose sentence is not an N_ message id."""
    found: list[tuple[int, str]] = []
    for cls in [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]:
        if not any(_name(b) in errors for b in cls.bases):
            continue
        for node in ast.walk(cls):  # super().__init__("…") inside a DomainError subclass
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "__init__"
                and node.args
                and (why := _sentence_problem(node.args[0], node.keywords))
            ):
                found.append((node.lineno, why))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and _name(node.func) in errors
            and node.args
            and (why := _sentence_problem(node.args[0], node.keywords))
        ):
            found.append((node.lineno, why))
    return found


@functools.cache  # parsed once for the module's walks (read only)
def _sources() -> dict[str, ast.Module]:
    return {
        str(p.relative_to(ROOT)): ast.parse(p.read_text(encoding="utf-8"))
        for p in sorted(CLOUD.rglob("*.py"))
    }


def test_every_domain_refusal_of_the_hub_is_a_message_id() -> None:
    trees = _sources()
    errors = error_classes(list(trees.values()))
    assert {"UnknownNode", "ImportRejected", "InvalidToken"} <= errors  # subclasses found
    bad = [
        f"{path}:{line}: {why}"
        for path, tree in trees.items()
        if path not in NOT_YET
        for line, why in problems(tree, errors)
    ]
    assert not bad, "raise DomainErrors with N_('… %(x)s …') and named parameters:\n" + "\n".join(
        bad
    )


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("raise ConflictError(f'order {no} is held')", "an f-string"),
        ("raise NotFoundError('no order %s' % no)", "a literal without N_"),
        ("raise InvalidError('bad', 'field')", "a literal without N_"),
        ("raise X.NotFoundError(msg or 'none')", "a literal without N_"),
        ("raise Mine(N_('order %(no)s'), order=no)", "placeholders ['no'] but parameters"),
        (
            "class Mine(ConflictError):\n def __init__(self):\n  super().__init__('x')",
            "a literal without N_",
        ),
    ],
)
def test_the_walk_names_what_it_refuses(source: str, why: str) -> None:
    tree = ast.parse("class Mine(ConflictError): pass\n" + source)
    found = problems(tree, error_classes([tree]))
    assert found and found[0][1].startswith(why), found


def test_the_walk_lets_message_ids_and_variables_pass() -> None:
    tree = ast.parse(
        "raise ConflictError(N_('order %(no)s is %(st)r'), no=n, st=s)\n"
        "raise InvalidError(N_('bad'), 'field')\n"
        "raise InvalidError(job.message or N_('the file was refused'), 'file')\n"
        "raise UnknownNode(node_id)\n"
    )
    assert problems(tree, error_classes([tree])) == []


def task_problems(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, why) of each ``open_task`` whose detail is not an N_ sentence (cloud/tasks.py)
    or whose ``params={…}`` keys differ from the sentence's placeholders."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and _name(node.func) == "open_task"):
            continue
        message = node.args[3] if len(node.args) > 3 else None
        message = next((k.value for k in node.keywords if k.arg == "message"), message)
        if message is None:
            continue  # the definition's own recursion, if ever; nothing to check
        why = _sentence_problem(message, [ast.keyword(arg=None, value=message)])
        texts = [
            n.args[0].value
            for n in ast.walk(message)
            if _is_n(n) and n.args and isinstance(n.args[0], ast.Constant)
        ]
        if why is None and not texts:
            why = "a variable, not an N_ sentence"
        params = next((k.value for k in node.keywords if k.arg == "params"), None)
        wanted = {p for t in texts for p in PLACEHOLDER.findall(str(t))}
        if why is None and (wanted or params is not None):
            if not isinstance(params, ast.Dict) or any(
                not isinstance(k, ast.Constant) for k in params.keys
            ):
                why = "params not a {literal: …} dict"
            else:
                given = {k.value for k in params.keys if isinstance(k, ast.Constant)}
                if given != wanted:
                    why = f"placeholders {sorted(wanted)} but params {sorted(given)}"
        if why is not None:
            found.append((node.lineno, why))
    return found


def test_every_task_of_the_hub_is_a_message_id() -> None:
    trees = _sources()
    bad = [
        f"{path}:{line}: {why}" for path, tree in trees.items() for line, why in task_problems(tree)
    ]
    assert not bad, "open tasks with N_('… %(x)s …') and params={…}:\n" + "\n".join(bad)
    sites = sum(
        1
        for tree in trees.values()
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and _name(n.func) == "open_task"
    )
    assert sites >= 18  # the walk did find the hub's tasks
    bad_ones = task_problems(
        ast.parse(
            "open_task(s, a, 'k', f'order {no}', now)\n"
            "open_task(s, a, 'k', N_('order %(no)s'), now, params={'order': no})\n"
            "open_task(s, a, 'k', detail, now)\n"
        )
    )
    assert [w for _, w in bad_ones] == [
        "an f-string",
        "placeholders ['no'] but params ['order']",
        "a variable, not an N_ sentence",
    ]


def test_every_nested_sentence_is_a_message_id() -> None:
    """A reason put inside a refusal or a task (cloud/errors.py ``Sentence``, cloud/tasks.py
    ``sentence``) is a message id too, with its placeholders given: an English reason
    inside a translated sentence stays English on a Chinese page."""
    names = {"Sentence", "sentence"}
    bad = [
        f"{path}:{line}: {why}"
        for path, tree in _sources().items()
        for line, why in problems(tree, names)
    ]
    assert not bad, "nest sentences as Sentence(N_('… %(x)s …'), x=…):\n" + "\n".join(bad)
    tree = ast.parse("Sentence(f'{col} of {sku}')\nsentence(N_('%(a)s'), b=1)\n")
    assert [why[:8] for _, why in problems(tree, names)] == ["an f-str", "placehol"]


#: A history line's reason: the 7th argument of ``log`` (cloud/orders/core.py, cloud/
#: aftersales/requests.py), the 6th of ``note``, the 5th of ``set_hold`` (a hold's line and
#: the order's hold reason: cloud/orders/workflow.py), or ``reason=``.
HISTORY_REASON = {"log": 6, "note": 5, "set_hold": 4}


def history_problems(
    tree: ast.Module, positions: dict[str, int] = HISTORY_REASON
) -> list[tuple[int, str]]:
    """(line, why) of each history line (``log``/``note`` of an order or an after-sales
    request, an ``OrderLog``/``AftersalesLog`` row) written as English text the pages cannot
    translate: an f-string or a literal. A sentence (``sentence(N_("…"), …)``) or a person's
    words (a variable) pass (cloud/orders/reasons.py ``written``, migration 0048). And each
    ``sentence(N_("…"), …)`` whose placeholders and parameters differ."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        reason: ast.expr | None = None
        if name in positions and not (
            isinstance(node.func, ast.Attribute) and _name(node.func.value) in {"logger", "log"}
        ):
            at = positions[name]
            reason = node.args[at] if len(node.args) > at else None
            reason = next((k.value for k in node.keywords if k.arg == "reason"), reason)
        elif name in {"OrderLog", "AftersalesLog"}:
            reason = next((k.value for k in node.keywords if k.arg == "reason"), None)
            if reason is None and not any(k.arg is None for k in node.keywords):
                continue  # no reason at all
        elif name == "sentence" and node.args and _is_n(node.args[0]):
            if why := _sentence_problem(node.args[0], node.keywords):
                found.append((node.lineno, why))
            continue
        if reason is None:
            continue
        said = {id(n) for s in ast.walk(reason) if _name(getattr(s, "func", None) or s) == "sentence" for n in ast.walk(s)}  # fmt: skip
        # A condition's operand (``ln.verdict == "fail"``) is a code compared, not text shown.
        said |= {id(n) for c in ast.walk(reason) if isinstance(c, ast.Compare) for n in ast.walk(c)}
        for n in ast.walk(reason):
            if id(n) in said:
                continue
            if isinstance(n, ast.JoinedStr) or (
                isinstance(n, ast.Constant) and isinstance(n.value, str)
            ):
                found.append((node.lineno, "English text, not a sentence"))
                break
    return found


def test_every_history_line_of_the_hub_is_a_sentence() -> None:
    bad = [
        f"{path}:{line}: {why}"
        for path, tree in _sources().items()
        for line, why in history_problems(tree)
    ]
    assert not bad, "write history lines as sentence(N_('… %(x)s …'), x=…):\n" + "\n".join(bad)


@pytest.mark.parametrize(
    "source",
    [
        "log(s, o, 'split', 'new', actor, now, f'lines moved to {no}')",
        "orders.note(s, o, 'waybill', actor, now, 'waybill drawn')",
        "OrderLog(order_id=1, reason='no change')",
        "log(s, o, 'x', 'new', actor, now, reason or 'held by hand')",
        "sentence(N_('merged into %(order)s'), orders=no)",
        "workflow.set_hold(s, a, no, True, f'refund on the channel: {oid}', ACTOR, now)",
    ],
)
def test_the_history_walk_names_english_lines(source: str) -> None:
    assert history_problems(ast.parse(source)), source


def test_the_history_walk_lets_sentences_and_typed_words_pass() -> None:
    tree = ast.parse(
        "log(s, o, 'reject', 'new', actor, now, reason)\n"
        "orders.note(s, o, 'waybill', actor, now, sentence(N_('waybill %(w)s drawn'), w=w))\n"
        "OrderLog(order_id=1, **written(said))\n"
        "logger.log(logging.INFO, 'x', 'y', 'z', 'a', 'b', 'c')\n"
    )
    assert history_problems(tree) == []


#: A ledger movement's reason (cloud/stock/ledger.py ``Move``, migration 0051): the 4th
#: argument of ``Move``, the 3rd of ``release_reservation`` and ``reverse_picks``
#: (cloud/orders/), the 4th of ``reverse_movement``, the 2nd of a transfer's ``_back``, the
#: 6th of ``adjust``, or ``reason=``.
MOVEMENT_REASON = {
    "Move": 3,
    "release_reservation": 2,
    "reverse_picks": 2,
    "reverse_movement": 3,
    "_back": 1,
    "adjust": 5,
}
#: A benchmark's own stock, never on a seller's page.
MOVEMENTS_NOT_ON_PAGES = ("cloud/bench/",)


def test_every_ledger_movement_reason_of_the_hub_is_a_sentence() -> None:
    """An f-string or a literal as a movement's reason reaches the Chinese movements page in
    English; a sentence or a person's words (a variable) pass."""
    sources = _sources()
    bad = [
        f"{path}:{line}: {why}"
        for path, tree in sources.items()
        if not path.startswith(MOVEMENTS_NOT_ON_PAGES)
        for line, why in history_problems(tree, MOVEMENT_REASON)
    ]
    assert not bad, "give movements sentence(N_('… %(x)s …'), x=…):\n" + "\n".join(bad)
    sites = sum(
        1
        for tree in sources.values()
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and _name(n.func) == "Move"
    )
    assert sites >= 12  # the walk did find the ledger's writers
    old = ast.parse(
        "Move(w, s, 'ship', 'shipped', doc(no), actor, qty_delta=-q)\n"
        "release_reservation(session, o, f'merged into {no}', actor, now)\n"
        "ledger.Move(w, s, 'pick', reason=f'picked by {who}', document=d, actor=a)\n"
    )
    assert len(history_problems(old, MOVEMENT_REASON)) == 3
