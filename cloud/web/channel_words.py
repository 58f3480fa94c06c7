"""A channel run's error in the page's language (a shop's runs and the channels list, issue
15: found by the browser walk, tests/cloud/web/test_walk_browser.py).

The marketplace clients keep a failed call's cause as English text in ``channel_run.error``
(cloud/channels/taobao/client.py and shopify/client.py ``Retryable``: "METHOD: no answer
(ConnectError)" when the marketplace could not be reached), and the API answers it so. The
page reads that sentence, as cloud/web/alarms.py reads a node's alarm: the call's name and
the error's type are codes and stay as they are; a text in another form (the marketplace's
own message) is shown as stored.
"""

from __future__ import annotations

import re
from typing import Final

from cloud.errors import N_
from cloud.tasks import Gettext, say

#: cloud/channels/taobao/client.py, cloud/channels/shopify/client.py: no answer at all.
NO_ANSWER: Final = re.compile(r"(?P<call>\S+): no answer \((?P<error>\w+)\)")


def run_error_in(error: str | None, gettext: Gettext) -> str:
    """``error`` in the language of ``gettext`` when it is a sentence the clients write."""
    if not error:
        return ""
    m = NO_ANSWER.fullmatch(error)
    if m is None:
        return error
    return say(
        N_("%(call)s: no answer (%(error)s)"), {"call": m["call"], "error": m["error"]}, gettext
    )
