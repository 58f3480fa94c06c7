"""The pages' JavaScript strings: translated on the server and handed to the page as JSON
(``<script type="application/json" id="pda-config">``), so one catalogue covers all text.

Placeholders in braces are filled by the page (static/js/text.js).
"""

from __future__ import annotations

import gettext
from typing import Final

from edge.pda.i18n import N_

JS_MESSAGES: Final[dict[str, str]] = {
    "bin_ok": N_("Bin {bin} OK: pick {qty} × {sku}"),
    "item_ok": N_("{sku} OK: {got} of {qty}"),
    "stop_done": N_("Bin {bin} done. Next: bin {next}"),
    "stop_short": N_("Bin {bin} short: {got} of {qty}. Next: bin {next}"),
    "complete": N_("Wave {wave} picked: all stops done"),
    "wrong_bin": N_("Wrong bin {code}: go to {bin}"),
    "unknown_bin": N_("Unknown bin {code}: go to {bin}"),
    "mid_stop_bin": N_("Bin {code} scanned mid-stop: finish {bin} first, or short it"),
    "bin_again": N_("Bin {bin} already confirmed: {got} of {qty}"),
    "bin_first": N_("Scan bin {bin} first"),
    "wrong_item": N_("Wrong item {code}: this stop wants {sku} (substitute to take it instead)"),
    "unknown_item": N_("Unknown barcode {code}"),
    "unreadable": N_("Unreadable scan ({problem}): scan again"),
    "problem_control": N_("control characters"),
    "problem_long": N_("{n} characters"),
    "too_long": N_("A code of {n} characters is not a barcode: scan again"),
    "double_read": N_("Double read of {code} ignored"),
    "substitute": N_("Scan the item to pick in place of {sku}"),
    "substitute_ok": N_("{code} taken in place of {sku}: the node checks it"),
    "sub_bin_first": N_("Scan bin {bin} first: a substitute is picked at the bin"),
    "already_substituting": N_("Substitute is already on: scan the item"),
    "no_wave": N_("No wave on this handheld: choose one from the wave list"),
    "wave_done_scan": N_("This wave is finished: choose the next one from the wave list"),
    "pending": N_("{n} waiting to send"),
    "all_sent": N_("All sent"),
    "offline": N_("Node unreachable: scans are kept and sent when it answers"),
    "rejected": N_("The node refused a scan of {code}: {detail}"),
    "mismatch": N_("The node judged {code} differently: {detail}"),
    "node_alert": N_("From the node: {detail}"),
    "session_expired": N_("Session expired: log in again. Queued scans wait: {n}"),
    "other_operator": N_("Scans of {op} wait for {op} to log in again: {n}"),
    "bad_credentials": N_("Wrong operator or PIN"),
    "locked": N_("This operator is locked after too many wrong PINs: try again in {min} min"),
    "too_many_attempts": N_("Too many attempts from this handheld: wait {s} s"),
    "busy": N_("The node is busy: try again in a moment"),
    "login_failed": N_("Log in failed: {detail}"),
    "login_offline": N_("Node unreachable: log in when the Wi-Fi is back"),
    "start_failed": N_("Cannot start wave {wave}: {detail}"),
    "starting": N_("Starting wave {wave}…"),
    "command_unavailable": N_("{cmd} does nothing on this page"),
    "cleared": N_("Message cleared"),
    "logged_out": N_("Logged out. Queued scans are kept"),
    "set_aside": N_("Problem set aside"),
    "scan_bin": N_("Scan the bin"),
    "scan_item": N_("Scan the item"),
    "scan_substitute": N_("Scan the substitute"),
    "done": N_("Done"),
    "short_flag": N_("short"),
    "loading": N_("Loading…"),
    "no_waves_selected": N_("No wave to start"),
    "count_not_built": N_("Stocktake by scanner is not built yet"),
}


def js_messages(translations: gettext.NullTranslations) -> dict[str, str]:
    return {key: translations.gettext(text) for key, text in JS_MESSAGES.items()}
