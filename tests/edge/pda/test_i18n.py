"""The zh_CN catalogue covers every message of the pages, and the committed .mo is current."""

from __future__ import annotations

from edge.pda import catalogue


def test_every_message_is_translated_and_none_is_fuzzy() -> None:
    extracted = {m.id for m in catalogue.extract() if m.id}
    po = catalogue.read("zh_CN")
    translated = {m.id for m in po if m.id and m.string and not m.fuzzy}
    assert extracted - translated == set(), "run `python -m edge.pda.catalogue` and translate"
    assert [m.id for m in po if m.id and m.fuzzy] == []


def test_the_committed_mo_is_the_po_compiled() -> None:
    mo = catalogue.po_path("zh_CN").with_suffix(".mo")
    assert mo.read_bytes() == catalogue.compiled(catalogue.read("zh_CN")), (
        "messages.mo is stale: run `python -m edge.pda.catalogue`"
    )


def test_a_missing_translation_is_caught(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    po = catalogue.read("zh_CN")
    po.get("Pick").string = ""  # type: ignore[union-attr]
    monkeypatch.setattr(catalogue, "read", lambda locale: po)
    extracted = {m.id for m in catalogue.extract() if m.id}
    translated = {m.id for m in catalogue.read("zh_CN") if m.id and m.string}
    assert extracted - translated == {"Pick"}


def test_station_sentences_keep_their_placeholders_in_chinese() -> None:
    """The desk pages fill a verdict's parameters into the translated sentence by name
    (static/js/text.js ``said``): a translation that loses or renames one would show a
    raw ``{name}`` or drop a figure."""
    import re

    from edge.pda.i18n import translations
    from edge.stations.sentences import ALL

    zh = translations("zh_CN")
    names = re.compile(r"\{(\w+)\}")
    for msgid in ALL:
        said = zh.gettext(msgid)
        words = re.search(r"[a-z]{3}", names.sub("", msgid))
        assert said != msgid or not words, msgid  # translated, unless it is all parameters
        assert sorted(names.findall(said)) == sorted(names.findall(msgid)), (msgid, said)
