"""A channel run's error in the page's language (a shop's runs and the channels list, issue
15: found by the browser walk, tests/cloud/web/test_walk_browser.py).

The marketplace clients keep a failed call's cause as English text in ``channel_run.error``
(cloud/channels/taobao/client.py and shopify/client.py: "METHOD: no answer (ConnectError)"
when the marketplace could not be reached, "…: HTTP 502 answered text/html, not JSON", a
full call bucket, a TOP error…), and the API answers it so. The page reads that sentence,
as cloud/web/alarms.py reads a node's alarm: the client's own words are said in the page's
language; the call's name, the error's type and what the marketplace itself said are codes
and its text, and stay as they are; any other text is shown as stored."""

from __future__ import annotations

import re
from typing import Final

from cloud.errors import N_
from cloud.tasks import Gettext, say

#: The sentences the clients write (cloud/channels/taobao/client.py, shopify/client.py), in
#: the order tried: the call first (a TOP method, or Shopify's "VERB /path", with a space),
#: then the client's own words around what the marketplace or the connection said.
SENTENCES: Final = (
    (
        re.compile(r"(?P<call>.+?): no answer \((?P<error>\w+)\)"),
        N_("%(call)s: no answer (%(error)s)"),
    ),
    (
        re.compile(r"(?P<call>.+?): HTTP (?P<status>\d{3}) answered (?P<kind>\S*), not JSON"),
        N_("%(call)s: HTTP %(status)s answered %(kind)s, not JSON"),
    ),
    (
        re.compile(r"(?P<call>.+?): the answer is not one TOP envelope"),
        N_("%(call)s: the answer is not one TOP envelope"),
    ),
    (
        re.compile(r"(?P<call>.+?): the answer has no (?P<key>\S+)"),
        N_("%(call)s: the answer has no %(key)s"),
    ),
    (
        re.compile(r"(?P<call>.+?): an error_response that is not an object"),
        N_("%(call)s: an error_response that is not an object"),
    ),
    (
        re.compile(r"(?P<call>.+?): 429, the shop's call bucket is full"),
        N_("%(call)s: 429, the shop's call bucket is full"),
    ),
    # The marketplace's own code and message, kept as it said them.
    (re.compile(r"(?P<call>.+?): TOP error (?P<said>.*)"), N_("%(call)s: TOP error %(said)s")),
    (
        re.compile(r"(?P<call>.+?): HTTP (?P<status>\d{3}) (?P<said>.*)"),
        N_("%(call)s: HTTP %(status)s %(said)s"),
    ),
)


def run_error_in(error: str | None, gettext: Gettext) -> str:
    """``error`` in the language of ``gettext`` when it is a sentence the clients write."""
    if not error:
        return ""
    for pattern, msgid in SENTENCES:
        m = pattern.fullmatch(error)
        if m is not None:
            return say(msgid, m.groupdict(), gettext)
    return error
