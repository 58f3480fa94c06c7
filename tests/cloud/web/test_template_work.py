"""What a page's rendering does per row (issue 20: the dashboard pages' CPU, S35).

The name tables of ``_macros.html`` are translated once per language, not at every call of
their macro; ``row.field`` on a dict answers exactly what Jinja2's own lookup answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jinja2 import Environment, pass_context, select_autoescape
from jinja2.runtime import Context

from cloud.web import render


def test_a_name_table_is_translated_once_not_per_call() -> None:
    env = render.environment.__wrapped__("zh_CN")  # a fresh one: nothing kept yet
    calls = 0
    gettext: Callable[..., str] = env.globals["gettext"]  # type: ignore[assignment]

    @pass_context
    def counting(ctx: Context, text: str, **variables: Any) -> str:
        nonlocal calls
        calls += 1
        return str(ctx.call(gettext, text, **variables))

    env.globals["gettext"] = counting
    page = env.from_string(
        '{% from "_macros.html" import status_label %}'
        "{% for s in statuses %}{{ status_label(s) }};{% endfor %}"
    )
    statuses = ["new", "saved", "audited", "nonsense"] * 50
    first = page.render(statuses=statuses)
    assert first.split(";")[:4] == ["新建", "已保存", "已审核", "nonsense"]
    assert calls <= 200  # the module's tables once (main: 13 calls per row, 2,600 here)
    before = calls
    assert page.render(statuses=statuses) == first
    assert calls == before  # the module is kept: no table translated again


class _Row(dict[str, Any]):
    """A dict of a subclass: Jinja2's own lookup, attribute first."""


def test_row_fields_on_a_dict_answer_as_jinja2_does() -> None:
    source = (
        "{{ r.name }}|{{ r.missing }}|{{ r.missing is defined }}|{{ r.items is callable }}"
        "|{{ r['name'] }}|{{ r.none }}|{{ s.name }}|{{ s.items is callable }}|{{ r.html }}"
    )
    values = {
        "r": {"name": "壳", "none": None, "items": 3, "html": "<b>"},
        "s": _Row(name="x"),
    }
    plain = Environment(autoescape=select_autoescape(default_for_string=True))
    ours = render.environment("en").overlay(autoescape=True)
    assert ours.from_string(source).render(values) == plain.from_string(source).render(values)
    assert ours.from_string(source).render(values) == "壳||False|True|壳|None|x|True|&lt;b&gt;"
