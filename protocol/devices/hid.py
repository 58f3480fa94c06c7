"""USB HID barcode scanners, sans-I/O: keyboard-wedge and HID POS reports to text.

A USB scanner shows up in one of two HID roles, and this module decodes both
into :class:`Scan` messages (plus the Linux ``input_event`` stream, for
scanners read through evdev, and the Linux UHID events a simulator uses to
create a virtual scanner).

Keyboard wedge ("HID keyboard emulation")
    The scanner types the barcode. Each input report is the boot-keyboard
    report of the HID 1.11 specification, Appendix B.1: byte 0 holds the
    modifier bits (usages 0xE0-0xE7 of the Keyboard/Keypad page, bit 0 Left
    Control ... bit 7 Right GUI), byte 1 is reserved, bytes 2-7 hold the
    usage IDs of up to six keys that are down. A character is typed when its
    usage *appears* in a report; scanners send a press report and then an
    all-released report per character. Usage IDs are those of the HID Usage
    Tables 1.5, section 10 "Keyboard/Keypad Page (0x07)", read here with the
    US layout (the layout a scanner assumes unless configured otherwise).
    Enter (0x28), Keypad Enter (0x58) and Tab (0x2B) end a scan (the scanner's
    configured suffix). Control characters that barcodes carry, above all GS
    (0x1D) between GS1 fields, come as Control+key (Control+] is GS) or as an
    Alt+keypad code (Alt held, keypad 0 0 2 9, Alt released); both are passed
    through for the station to judge. All six key slots set to ErrorRollOver
    (0x01) is the HID 1.11 Appendix C "phantom state" and is ignored.

HID POS ("USB HID barcode scanner", usage page 0x8C)
    The HID Point of Sale Usage Tables 1.02, section 3 "Bar Code Scanner Page
    (0x8C)", define the Scanned Data Report (usage 0x12) with Symbology
    Identifier 1-3 (0x91-0x93), Decoded Data (0xFE) and Decoded Data Continued
    (0xFF). Scanner makers lay it out the same way (Honeywell, Zebra and
    Access-IS "HID POS" appendices), 64 bytes with the report ID::

        0      report ID (2 by default)
        1      number of data bytes in this report, 0..56
        2-4    AIM symbology identifier, e.g. "]E0" (ISO/IEC 15424)
        5-60   decoded data, zero-padded
        61-62  vendor symbology code, reserved
        63     bit 0: Decoded Data Continued - more reports follow

    A barcode longer than 56 bytes spans reports; the last one has bit 0
    clear. Data is bytes; we read it as UTF-8 (ASCII is a subset).

Both decoders take whole reports: hidraw returns exactly one report per
``read`` (Linux Documentation/hid/hidraw.rst), so ``feed(report)`` is one
report and ``next_message()`` returns a :class:`Scan` or :data:`NEED_DATA`.
A report that breaks a rule inside a scan poisons that scan: the decoder
raises :class:`RemoteProtocolError` once and swallows the rest of the scan up
to its terminator, so a barcode with a lost character never reaches the
station. A scan with no terminator within :data:`MAX_SCAN_CHARS` is
discarded with a clear error (a jammed or misconfigured scanner must not eat
memory).
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass
from typing import Final

from protocol.errors import NEED_DATA, NeedData, RemoteProtocolError

#: A scan with no terminator within this many characters (or bytes) is discarded.
MAX_SCAN_CHARS: Final = 10 * 1024

# --- messages -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scan:
    """One scanned barcode.

    ``symbology`` is the AIM identifier ("]E0") when the transport carries it
    separately (HID POS); a keyboard wedge types it into ``text`` if the
    scanner is set to send one. ``terminator`` names the key that ended a
    typed scan ("enter", "tab"), None for HID POS.
    """

    text: str
    symbology: str | None = None
    terminator: str | None = None


# --- Keyboard/Keypad page, US layout (HUT 1.5 section 10) ---------------------------

USAGE_ERROR_ROLL_OVER: Final = 0x01
USAGE_ENTER: Final = 0x28
USAGE_ESCAPE: Final = 0x29
USAGE_BACKSPACE: Final = 0x2A
USAGE_TAB: Final = 0x2B
USAGE_KEYPAD_ENTER: Final = 0x58

#: Modifier bits of boot-report byte 0 (HUT usages 0xE0-0xE7 in order).
MOD_LEFT_CTRL: Final = 0x01
MOD_LEFT_SHIFT: Final = 0x02
MOD_LEFT_ALT: Final = 0x04
MOD_RIGHT_CTRL: Final = 0x10
MOD_RIGHT_SHIFT: Final = 0x20
MOD_RIGHT_ALT: Final = 0x40
_CTRL: Final = MOD_LEFT_CTRL | MOD_RIGHT_CTRL
_SHIFT: Final = MOD_LEFT_SHIFT | MOD_RIGHT_SHIFT
_ALT: Final = MOD_LEFT_ALT | MOD_RIGHT_ALT


def _build_layout() -> dict[int, tuple[str, str]]:
    layout: dict[int, tuple[str, str]] = {}
    for i, ch in enumerate("abcdefghijklmnopqrstuvwxyz"):
        layout[0x04 + i] = (ch, ch.upper())
    for i, (plain, shifted) in enumerate(zip("1234567890", "!@#$%^&*()", strict=True)):
        layout[0x1E + i] = (plain, shifted)
    punctuation = {
        0x2C: (" ", " "),
        0x2D: ("-", "_"),
        0x2E: ("=", "+"),
        0x2F: ("[", "{"),
        0x30: ("]", "}"),
        0x31: ("\\", "|"),
        0x33: (";", ":"),
        0x34: ("'", '"'),
        0x35: ("`", "~"),
        0x36: (",", "<"),
        0x37: (".", ">"),
        0x38: ("/", "?"),
    }
    layout.update(punctuation)
    # 0x32 "Non-US # and ~" does not exist on a US keyboard; Linux maps it to
    # the backslash key, so read it that way (decode only, never encoded).
    layout[0x32] = ("\\", "|")
    return layout


#: usage ID -> (unshifted, shifted) character on the US layout.
US_LAYOUT: Final = _build_layout()
#: Keypad usages (HUT 1.5 section 10, 0x54-0x63); Num Lock is assumed on, as
#: scanners in keypad-emulation mode require.
KEYPAD: Final = {
    0x54: "/",
    0x55: "*",
    0x56: "-",
    0x57: "+",
    **{0x59 + i: str(i + 1) for i in range(9)},
    0x62: "0",
    0x63: ".",
}
_KEYPAD_DIGITS: Final = {usage: ch for usage, ch in KEYPAD.items() if ch.isdigit()}
_TERMINATORS: Final = {USAGE_ENTER: "enter", USAGE_KEYPAD_ENTER: "enter", USAGE_TAB: "tab"}
_PLAIN_CONTROLS: Final = {USAGE_ESCAPE: "\x1b", USAGE_BACKSPACE: "\x08"}

#: printable ASCII -> (usage, needs shift), for the encoder.
_CHAR_TO_KEY: Final = {
    ch: (usage, shifted)
    for usage, pair in sorted(US_LAYOUT.items(), reverse=True)  # 0x31 wins over 0x32
    # Unshifted listed last so it wins where both give the same character (space).
    for shifted, ch in ((True, pair[1]), (False, pair[0]))
}


def _control_char(ch: str) -> str | None:
    """Control+key: the ASCII control character (0x40-0x5F with bit 6 cleared)."""
    code = ord(ch.upper())
    if 0x40 <= code <= 0x5F:
        return chr(code & 0x1F)
    return None


class _Scan:
    """The scan being assembled: length limit and poisoning shared by all decoders."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.parts: list[str] = []
        self.size = 0
        self.discarding = False

    def add(self, text: str, size: int | None = None) -> None:
        if self.discarding or not text:
            return
        self.parts.append(text)
        self.size += len(text) if size is None else size
        if self.size > self.max_chars:
            self.poison(
                f"no scan terminator within {self.max_chars} characters; "
                "discarding input up to the next terminator"
            )

    def poison(self, reason: str) -> None:
        """Drop this scan up to its terminator and say why, once."""
        self.parts.clear()
        self.size = 0
        already = self.discarding
        self.discarding = True
        if not already:
            raise RemoteProtocolError(reason)

    def finish(self) -> str | None:
        text = None if self.discarding else "".join(self.parts)
        self.parts.clear()
        self.size = 0
        self.discarding = False
        return text or None


class _Typist:
    """US-layout typing state: modifiers, Alt+keypad codes, key presses -> text."""

    def __init__(self, scan: _Scan) -> None:
        self.scan = scan
        self.modifiers = 0
        self.alt_digits = ""

    def set_modifiers(self, modifiers: int) -> None:
        released_alt = self.modifiers & _ALT and not modifiers & _ALT
        self.modifiers = modifiers
        if released_alt and self.alt_digits:
            digits, self.alt_digits = self.alt_digits, ""
            code = int(digits)
            if code > 0xFF:
                self.scan.poison(f"Alt+keypad code {digits} is above 255")
                return
            # Windows convention: a leading 0 means the ANSI code page (1252),
            # otherwise the OEM one (437). Both agree below 0x80.
            self.scan.add(
                bytes([code]).decode("cp1252" if digits[0] == "0" else "cp437", "replace")
            )

    def press(self, usage: int) -> str | None:
        """Type one newly pressed key; returns the terminator name if it ends the scan."""
        mods = self.modifiers
        if usage in _TERMINATORS and not mods & (_CTRL | _ALT):
            return _TERMINATORS[usage]
        if mods & _ALT:
            if usage in _KEYPAD_DIGITS:
                self.alt_digits += _KEYPAD_DIGITS[usage]
                return None
            self.scan.poison(f"Alt+key usage 0x{usage:02x} is not an Alt+keypad code")
            return None
        if usage in _PLAIN_CONTROLS and not mods & _CTRL:
            self.scan.add(_PLAIN_CONTROLS[usage])
            return None
        if usage in KEYPAD and not mods & _CTRL:
            self.scan.add(KEYPAD[usage])
            return None
        pair = US_LAYOUT.get(usage)
        if pair is None:
            self.scan.poison(f"key usage 0x{usage:02x} types no character on the US layout")
            return None
        ch = pair[1] if mods & _SHIFT else pair[0]
        if mods & _CTRL:
            control = _control_char(ch)
            if control is None:
                self.scan.poison(f"Control+{ch!r} is not an ASCII control character")
                return None
            ch = control
        self.scan.add(ch)
        return None


class KeyboardReportDecoder:
    """Boot-keyboard reports (HID 1.11 Appendix B.1) -> :class:`Scan`.

    ``report_id``: set when the device numbers its reports (a composite
    keyboard+something), so hidraw prefixes each report with that byte.
    """

    REPORT_LEN: Final = 8

    def __init__(self, report_id: int | None = None, max_chars: int = MAX_SCAN_CHARS) -> None:
        self.report_id = report_id
        self._reports: deque[bytes] = deque()
        self._scan = _Scan(max_chars)
        self._typist = _Typist(self._scan)
        self._down: set[int] = set()
        #: A clean scan finished in the same report as an error: raised first, then this.
        self._held: Scan | None = None

    def feed(self, report: bytes) -> None:
        """Queue one whole input report, as one hidraw read returns it."""
        self._reports.append(bytes(report))

    def next_message(self) -> Scan | NeedData:
        held = self._held
        if held is not None:
            self._held = None
            return held
        while self._reports:
            scan = self._report(self._reports.popleft())
            if scan is not None:
                return scan
        return NEED_DATA

    def _report(self, report: bytes) -> Scan | None:
        if self.report_id is not None:
            if not report or report[0] != self.report_id:
                got = f"0x{report[0]:02x}" if report else "an empty report"
                self._scan.poison(f"keyboard report ID is {got}, expected 0x{self.report_id:02x}")
                return None
            report = report[1:]
        if len(report) != self.REPORT_LEN:
            self._scan.poison(
                f"keyboard boot report is {len(report)} bytes, expected {self.REPORT_LEN} "
                "(HID 1.11 Appendix B.1)"
            )
            return None
        keys = report[2:]
        if all(k == USAGE_ERROR_ROLL_OVER for k in keys):
            return None  # phantom state: too many keys down; the next report tells
        pressed = [k for k in keys if k and k not in self._down and not 0xE0 <= k <= 0xE7]
        self._down = {k for k in keys if k}
        # Modifiers first: Shift and its key arrive in the same report.
        # Keep going after an error so a terminator in this report still ends
        # the poisoned scan; the first error is raised at the end.
        error: RemoteProtocolError | None = None
        scan: Scan | None = None
        try:
            self._typist.set_modifiers(report[0])
        except RemoteProtocolError as err:
            error = err
        for usage in pressed:
            try:
                terminator = self._typist.press(usage)
            except RemoteProtocolError as err:
                error = error or err
                continue
            if terminator is not None:
                text = self._scan.finish()
                if text is not None:
                    scan = Scan(text, terminator=terminator)
        if error is not None:
            # Up to six keys arrive in one report, so a bad key, a terminator, clean keys
            # and another terminator can share it: the poisoned scan is dropped, the clean
            # one after it is not. The error is raised now, the clean scan returned next.
            self._held = scan
            raise error
        return scan


def encode_keyboard(text: str, terminator: str = "enter") -> list[bytes]:
    """The boot-keyboard reports a scanner sends to type ``text`` then the terminator.

    Printable ASCII is typed on the US layout, control characters as
    Control+key (GS as Control+]); anything else cannot be typed.
    """
    reports: list[bytes] = []
    release = bytes(8)
    for ch in text:
        if ch in _CHAR_TO_KEY:
            usage, shifted = _CHAR_TO_KEY[ch]
            mods = MOD_LEFT_SHIFT if shifted else 0
        elif ord(ch) < 0x20:
            # The inverse of _control_char: 0x00-0x1F is Control+ the key of
            # 0x40-0x5F; letters typed lower-case, @ ^ _ need shift.
            base = chr(ord(ch) | 0x40)
            usage, shifted = _CHAR_TO_KEY[base.lower()]
            mods = MOD_LEFT_CTRL | (MOD_LEFT_SHIFT if shifted else 0)
        else:
            raise ValueError(f"{ch!r} cannot be typed on a US keyboard")
        reports.append(bytes([mods, 0, usage, 0, 0, 0, 0, 0]))
        reports.append(release)
    if terminator:
        term = {"enter": USAGE_ENTER, "tab": USAGE_TAB}[terminator]
        reports += [bytes([0, 0, term, 0, 0, 0, 0, 0]), release]
    return reports


# --- HID POS scanned data report (POS Usage Tables 1.02 section 3) --------------------

POS_REPORT_ID: Final = 2
POS_REPORT_LEN: Final = 64  # report ID included
POS_DATA_MAX: Final = 56
_POS_CONTINUED: Final = 0x01


class PosReportDecoder:
    """HID POS Scanned Data Reports -> :class:`Scan` (layout in the module docstring).

    Input reports with another report ID (status, attributes) are not scans
    and are skipped. After a malformed scanned-data report the decoder drops
    reports up to the next one with Decoded Data Continued clear: we cannot
    tell which scan the bad report belonged to, and a lost scan (the operator
    rescans) is better than a truncated barcode.
    """

    def __init__(self, report_id: int = POS_REPORT_ID, max_bytes: int = MAX_SCAN_CHARS) -> None:
        self.report_id = report_id
        self.max_bytes = max_bytes
        self._reports: deque[bytes] = deque()
        self._data = bytearray()
        self._symbology: str | None = None
        self._discarding = False

    def feed(self, report: bytes) -> None:
        """Queue one whole input report, as one hidraw read returns it."""
        self._reports.append(bytes(report))

    def next_message(self) -> Scan | NeedData:
        while self._reports:
            scan = self._report(self._reports.popleft())
            if scan is not None:
                return scan
        return NEED_DATA

    def _drop(self, reason: str, until_last: bool) -> None:
        self._data.clear()
        self._discarding = until_last
        raise RemoteProtocolError(reason)

    def _report(self, report: bytes) -> Scan | None:
        if not report:
            raise RemoteProtocolError("empty HID report")
        if report[0] != self.report_id:
            return None
        if len(report) != POS_REPORT_LEN:
            self._drop(
                f"HID POS scanned data report is {len(report)} bytes, expected "
                f"{POS_REPORT_LEN} (report ID included)",
                until_last=True,
            )
        continued = bool(report[63] & _POS_CONTINUED)
        if self._discarding:
            self._discarding = continued
            return None
        length = report[1]
        if length > POS_DATA_MAX:
            self._drop(
                f"HID POS data length {length} is more than the {POS_DATA_MAX} bytes a report holds",
                until_last=continued,
            )
        if not self._data:
            self._symbology = _aim_identifier(report[2:5])
        self._data += report[5 : 5 + length]
        if len(self._data) > self.max_bytes:
            self._drop(
                f"HID POS scan longer than {self.max_bytes} bytes without a last report; "
                "discarding it",
                until_last=continued,
            )
        if continued:
            return None
        data = bytes(self._data)
        self._data.clear()
        if not data:
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            raise RemoteProtocolError(
                f"HID POS scan data is not UTF-8 (byte 0x{data[err.start]:02x} at offset {err.start})"
            ) from None
        return Scan(text, symbology=self._symbology)


def _aim_identifier(raw: bytes) -> str | None:
    # ISO/IEC 15424: "]" + code character + modifier character, all ASCII.
    if raw[0:1] == b"]" and all(0x21 <= b <= 0x7E for b in raw):
        return raw.decode("ascii")
    return None


def encode_pos(data: bytes, symbology: str = "]C0", report_id: int = POS_REPORT_ID) -> list[bytes]:
    """The Scanned Data Reports a HID POS scanner sends for ``data``."""
    aim = symbology.encode("ascii")
    if len(aim) != 3:
        raise ValueError(f"AIM symbology identifier {symbology!r} is not 3 characters")
    chunks = [data[i : i + POS_DATA_MAX] for i in range(0, len(data), POS_DATA_MAX)] or [b""]
    reports = []
    for i, chunk in enumerate(chunks):
        more = _POS_CONTINUED if i < len(chunks) - 1 else 0
        body = bytes([report_id, len(chunk)]) + aim + chunk.ljust(POS_DATA_MAX, b"\0")
        reports.append(body + bytes([0, 0, more]))
    return reports


# --- report descriptors (HID 1.11 section 6.2.2), for virtual devices --------------


def _item(tag: int, value: int, size: int = 1) -> bytes:
    """A short item: prefix (tag | size code) then a little-endian value."""
    code = {0: 0, 1: 1, 2: 2, 4: 3}[size]
    return bytes([tag | code]) + value.to_bytes(size, "little") if size else bytes([tag])


_USAGE_PAGE, _USAGE, _COLLECTION, _END_COLLECTION = 0x04, 0x08, 0xA0, 0xC0
_USAGE_MIN, _USAGE_MAX, _LOGICAL_MIN, _LOGICAL_MAX = 0x18, 0x28, 0x14, 0x24
_REPORT_SIZE, _REPORT_COUNT, _REPORT_ID, _INPUT, _OUTPUT = 0x74, 0x94, 0x84, 0x80, 0x90
_DATA_VAR_ABS, _DATA_ARRAY_ABS, _CONSTANT = 0x02, 0x00, 0x01

#: The boot keyboard of HID 1.11 Appendix B.1 (8-byte input, 5 LED outputs).
KEYBOARD_REPORT_DESCRIPTOR: Final = b"".join(
    [
        _item(_USAGE_PAGE, 0x01),  # Generic Desktop
        _item(_USAGE, 0x06),  # Keyboard
        _item(_COLLECTION, 0x01),  # Application
        _item(_USAGE_PAGE, 0x07),  # Keyboard/Keypad: modifier bits
        _item(_USAGE_MIN, 0xE0),
        _item(_USAGE_MAX, 0xE7),
        _item(_LOGICAL_MIN, 0),
        _item(_LOGICAL_MAX, 1),
        _item(_REPORT_SIZE, 1),
        _item(_REPORT_COUNT, 8),
        _item(_INPUT, _DATA_VAR_ABS),
        _item(_REPORT_SIZE, 8),  # reserved byte
        _item(_REPORT_COUNT, 1),
        _item(_INPUT, _CONSTANT),
        _item(_USAGE_PAGE, 0x08),  # LEDs: Num, Caps, Scroll, Compose, Kana
        _item(_USAGE_MIN, 0x01),
        _item(_USAGE_MAX, 0x05),
        _item(_REPORT_SIZE, 1),
        _item(_REPORT_COUNT, 5),
        _item(_OUTPUT, _DATA_VAR_ABS),
        _item(_REPORT_SIZE, 3),  # LED padding
        _item(_REPORT_COUNT, 1),
        _item(_OUTPUT, _CONSTANT),
        _item(_USAGE_PAGE, 0x07),  # six key slots, an array of usages
        _item(_USAGE_MIN, 0x00),
        _item(_USAGE_MAX, 0xFF),
        _item(_LOGICAL_MAX, 0xFF, 2),
        _item(_REPORT_SIZE, 8),
        _item(_REPORT_COUNT, 6),
        _item(_INPUT, _DATA_ARRAY_ABS),
        _item(_END_COLLECTION, 0, 0),
    ]
)

#: A Bar Code Scanner (POS Usage Tables 1.02 section 3) with the 64-byte
#: Scanned Data Report laid out as in the module docstring.
POS_REPORT_DESCRIPTOR: Final = b"".join(
    [
        _item(_USAGE_PAGE, 0x8C),  # Bar Code Scanner page
        _item(_USAGE, 0x02),  # Bar Code Scanner
        _item(_COLLECTION, 0x01),  # Application
        _item(_REPORT_ID, POS_REPORT_ID),
        _item(_USAGE, 0x12),  # Scanned Data Report
        _item(_COLLECTION, 0x02),  # Logical
        _item(_LOGICAL_MIN, 0),
        _item(_LOGICAL_MAX, 0xFF, 2),  # logical values are signed: 255 needs two bytes
        _item(_REPORT_SIZE, 8),
        _item(_REPORT_COUNT, 1),
        _item(_USAGE_PAGE, 0xFF00, 2),  # vendor: data length in this report
        _item(_USAGE, 0x01),
        _item(_INPUT, _DATA_VAR_ABS),
        _item(_USAGE_PAGE, 0x8C),
        _item(_USAGE, 0x91),  # Symbology Identifier 1
        _item(_USAGE, 0x92),  # Symbology Identifier 2
        _item(_USAGE, 0x93),  # Symbology Identifier 3
        _item(_REPORT_COUNT, 3),
        _item(_INPUT, _DATA_VAR_ABS),
        _item(_USAGE, 0xFE),  # Decoded Data
        _item(_REPORT_COUNT, POS_DATA_MAX),
        _item(_INPUT, 0x102, 2),  # Data, Var, Abs, Buffered Bytes
        _item(_USAGE_PAGE, 0xFF00, 2),  # vendor symbology code, reserved
        _item(_USAGE, 0x02),
        _item(_REPORT_COUNT, 2),
        _item(_INPUT, _DATA_VAR_ABS),
        _item(_USAGE_PAGE, 0x8C),
        _item(_USAGE, 0xFF),  # Decoded Data Continued
        _item(_LOGICAL_MAX, 1),
        _item(_REPORT_SIZE, 1),
        _item(_REPORT_COUNT, 1),
        _item(_INPUT, _DATA_VAR_ABS),
        _item(_REPORT_COUNT, 7),  # padding to the byte
        _item(_INPUT, _CONSTANT),
        _item(_END_COLLECTION, 0, 0),
        _item(_END_COLLECTION, 0, 0),
    ]
)


# --- Linux input events (evdev) -----------------------------------------------------

# linux/input-event-codes.h
EV_SYN: Final = 0x00
EV_KEY: Final = 0x01
EV_MSC: Final = 0x04
KEY_RELEASED, KEY_PRESSED, KEY_REPEATED = 0, 1, 2

# Linux key code -> HID usage (the inverse of the kernel's hid_keyboard table
# for the keys a scanner types), so evdev input shares the US layout above.
_LETTER_ROWS: Final = {16: "qwertyuiop", 30: "asdfghjkl", 44: "zxcvbnm"}
KEYCODE_TO_USAGE: Final = {
    **{2 + i: 0x1E + i for i in range(10)},  # KEY_1..KEY_0
    **{
        first + i: 0x04 + ord(ch) - ord("a")
        for first, row in _LETTER_ROWS.items()
        for i, ch in enumerate(row)
    },
    1: USAGE_ESCAPE,
    12: 0x2D,  # KEY_MINUS
    13: 0x2E,  # KEY_EQUAL
    14: USAGE_BACKSPACE,
    15: USAGE_TAB,
    26: 0x2F,  # KEY_LEFTBRACE
    27: 0x30,  # KEY_RIGHTBRACE
    28: USAGE_ENTER,
    39: 0x33,  # KEY_SEMICOLON
    40: 0x34,  # KEY_APOSTROPHE
    41: 0x35,  # KEY_GRAVE
    43: 0x31,  # KEY_BACKSLASH
    51: 0x36,  # KEY_COMMA
    52: 0x37,  # KEY_DOT
    53: 0x38,  # KEY_SLASH
    55: 0x55,  # KEY_KPASTERISK
    57: 0x2C,  # KEY_SPACE
    71: 0x5F,  # KEY_KP7
    72: 0x60,
    73: 0x61,
    74: 0x56,  # KEY_KPMINUS
    75: 0x5C,  # KEY_KP4
    76: 0x5D,
    77: 0x5E,
    78: 0x57,  # KEY_KPPLUS
    79: 0x59,  # KEY_KP1
    80: 0x5A,
    81: 0x5B,
    82: 0x62,  # KEY_KP0
    83: 0x63,  # KEY_KPDOT
    86: 0x32,  # KEY_102ND
    96: USAGE_KEYPAD_ENTER,
    98: 0x54,  # KEY_KPSLASH
}
#: Linux modifier key codes -> boot-report modifier bit.
KEYCODE_TO_MODIFIER: Final = {
    29: MOD_LEFT_CTRL,
    42: MOD_LEFT_SHIFT,
    56: MOD_LEFT_ALT,
    97: MOD_RIGHT_CTRL,
    54: MOD_RIGHT_SHIFT,
    100: MOD_RIGHT_ALT,
}
_USAGE_TO_KEYCODE: Final = {usage: code for code, usage in sorted(KEYCODE_TO_USAGE.items())}
_MODIFIER_TO_KEYCODE: Final = {bit: code for code, bit in KEYCODE_TO_MODIFIER.items()}
# Keys with no character a scanner would type (Caps Lock, Num Lock, F-keys...)
# are ignored rather than poisoning the scan: 58 CAPSLOCK, 69 NUMLOCK, 70 SCROLLLOCK.
_IGNORED_KEYCODES: Final = frozenset({58, 69, 70})


def input_event_struct(long_size: int = struct.calcsize("l")) -> struct.Struct:
    """``struct input_event`` (linux/input.h): timeval, __u16 type, __u16 code, __s32 value.

    The timeval is two C longs, so the event is 24 bytes on 64-bit and 16
    bytes on 32-bit userspace (a 32-bit Raspberry Pi OS).
    """
    if long_size not in (4, 8):
        raise ValueError("a C long is 4 or 8 bytes")
    return struct.Struct("<qqHHi" if long_size == 8 else "<llHHi")


class InputEventDecoder:
    """A byte stream of ``struct input_event`` (from /dev/input/eventN) -> :class:`Scan`."""

    def __init__(
        self, long_size: int = struct.calcsize("l"), max_chars: int = MAX_SCAN_CHARS
    ) -> None:
        self._struct = input_event_struct(long_size)
        self._buf = bytearray()
        self._scan = _Scan(max_chars)
        self._typist = _Typist(self._scan)

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_message(self) -> Scan | NeedData:
        size = self._struct.size
        while len(self._buf) >= size:
            _sec, _usec, type_, code, value = self._struct.unpack_from(self._buf)
            del self._buf[:size]
            if type_ != EV_KEY:
                continue  # EV_SYN frames and EV_MSC scan codes carry no characters
            scan = self._key(code, value)
            if scan is not None:
                return scan
        return NEED_DATA

    def _key(self, code: int, value: int) -> Scan | None:
        if value not in (KEY_RELEASED, KEY_PRESSED, KEY_REPEATED):
            self._scan.poison(f"EV_KEY value {value} is not release, press or repeat")
            return None
        if code in KEYCODE_TO_MODIFIER:
            bit = KEYCODE_TO_MODIFIER[code]
            mods = self._typist.modifiers
            self._typist.set_modifiers(mods | bit if value else mods & ~bit)
            return None
        if value != KEY_PRESSED or code in _IGNORED_KEYCODES:
            return None  # scanners do not auto-repeat; a repeat is a held key
        usage = KEYCODE_TO_USAGE.get(code)
        if usage is None:
            self._scan.poison(f"key code {code} types no character on the US layout")
            return None
        terminator = self._typist.press(usage)
        if terminator is None:
            return None
        text = self._scan.finish()
        return None if text is None else Scan(text, terminator=terminator)


def encode_input_events(
    text: str, terminator: str = "enter", long_size: int = struct.calcsize("l")
) -> bytes:
    """The evdev byte stream a keyboard-wedge scanner produces for ``text``."""
    st = input_event_struct(long_size)
    out = bytearray()

    def key(code: int, value: int) -> None:
        out.extend(st.pack(0, 0, EV_KEY, code, value))
        out.extend(st.pack(0, 0, EV_SYN, 0, 0))

    for report in encode_keyboard(text, terminator)[::2]:  # press reports only
        mods, usage = report[0], report[2]
        held = [_MODIFIER_TO_KEYCODE[bit] for bit in (MOD_LEFT_CTRL, MOD_LEFT_SHIFT) if mods & bit]
        for code in held:
            key(code, KEY_PRESSED)
        key(_USAGE_TO_KEYCODE[usage], KEY_PRESSED)
        key(_USAGE_TO_KEYCODE[usage], KEY_RELEASED)
        for code in reversed(held):
            key(code, KEY_RELEASED)
    return bytes(out)


# --- Linux UHID (Documentation/hid/uhid.rst, include/uapi/linux/uhid.h) -------------

UHID_DESTROY: Final = 1
UHID_START: Final = 2
UHID_STOP: Final = 3
UHID_OPEN: Final = 4
UHID_CLOSE: Final = 5
UHID_OUTPUT: Final = 6
UHID_GET_REPORT: Final = 9
UHID_GET_REPORT_REPLY: Final = 10
UHID_CREATE2: Final = 11
UHID_INPUT2: Final = 12
UHID_SET_REPORT: Final = 13
UHID_SET_REPORT_REPLY: Final = 14
BUS_USB: Final = 0x03
UHID_DATA_MAX: Final = 4096
HID_MAX_DESCRIPTOR_SIZE: Final = 4096
# struct uhid_create2_req: name[128] phys[64] uniq[64] __u16 rd_size __u16 bus
# __u32 vendor product version country, rd_data[4096]; all packed, host order
# (little-endian on every platform Guanjia runs on).
_CREATE2: Final = struct.Struct(f"<I128s64s64sHHIIII{HID_MAX_DESCRIPTOR_SIZE}s")
#: sizeof(struct uhid_event): the type plus the largest union member (create2).
UHID_EVENT_SIZE: Final = _CREATE2.size
_TYPE: Final = struct.Struct("<I")


@dataclass(frozen=True, slots=True)
class UhidEvent:
    """A decoded uhid_event. ``data`` is the report for INPUT2/OUTPUT/SET_REPORT,
    the descriptor for CREATE2; ``id`` the request id of GET/SET_REPORT."""

    type: int
    data: bytes = b""
    id: int = 0
    rnum: int = 0
    rtype: int = 0
    name: str = ""
    vendor: int = 0
    product: int = 0
    bus: int = 0


def encode_uhid_create2(
    name: str, descriptor: bytes, *, vendor: int, product: int, bus: int = BUS_USB
) -> bytes:
    if len(descriptor) > HID_MAX_DESCRIPTOR_SIZE:
        raise ValueError("report descriptor longer than HID_MAX_DESCRIPTOR_SIZE")
    return _CREATE2.pack(
        UHID_CREATE2,
        name.encode("utf-8")[:127],
        b"",
        b"",
        len(descriptor),
        bus,
        vendor,
        product,
        0,
        0,
        descriptor,
    )


def encode_uhid_input2(report: bytes) -> bytes:
    if len(report) > UHID_DATA_MAX:
        raise ValueError("HID report longer than UHID_DATA_MAX")
    # The kernel reads only `size` bytes of data, so the tail may be omitted.
    return struct.pack("<IH", UHID_INPUT2, len(report)) + report


def encode_uhid_destroy() -> bytes:
    return _TYPE.pack(UHID_DESTROY)


def encode_uhid_get_report_reply(req_id: int, err: int) -> bytes:
    return struct.pack("<IIHH", UHID_GET_REPORT_REPLY, req_id, err, 0)


def encode_uhid_set_report_reply(req_id: int, err: int) -> bytes:
    return struct.pack("<IIH", UHID_SET_REPORT_REPLY, req_id, err)


def decode_uhid_event(data: bytes) -> UhidEvent:
    """Decode one uhid_event, either direction (kernel reads give full-size events)."""
    if len(data) < 4:
        raise RemoteProtocolError(f"uhid event is {len(data)} bytes, shorter than its type")
    (type_,) = _TYPE.unpack_from(data)
    body = data[4:]
    try:
        if type_ in (UHID_DESTROY, UHID_START, UHID_STOP, UHID_OPEN, UHID_CLOSE):
            return UhidEvent(type_)
        if type_ == UHID_INPUT2:
            (size,) = struct.unpack_from("<H", body)
            return UhidEvent(type_, data=_sized(body[2:], size))
        if type_ == UHID_OUTPUT:  # data[4096] __u16 size __u8 rtype
            size, rtype = struct.unpack_from("<HB", body, UHID_DATA_MAX)
            return UhidEvent(type_, data=_sized(body, size), rtype=rtype)
        if type_ == UHID_GET_REPORT:  # __u32 id __u8 rnum __u8 rtype
            req_id, rnum, rtype = struct.unpack_from("<IBB", body)
            return UhidEvent(type_, id=req_id, rnum=rnum, rtype=rtype)
        if type_ == UHID_SET_REPORT:  # __u32 id __u8 rnum __u8 rtype __u16 size data
            req_id, rnum, rtype, size = struct.unpack_from("<IBBH", body)
            return UhidEvent(type_, data=_sized(body[8:], size), id=req_id, rnum=rnum, rtype=rtype)
        if type_ == UHID_CREATE2:
            fields = _CREATE2.unpack_from(data.ljust(UHID_EVENT_SIZE, b"\0"))
            name, rd_size, bus, vendor, product = (
                fields[1],
                fields[4],
                fields[5],
                fields[6],
                fields[7],
            )
            return UhidEvent(
                type_,
                data=_sized(fields[10], rd_size),
                name=name.rstrip(b"\0").decode("utf-8", "replace"),
                vendor=vendor,
                product=product,
                bus=bus,
            )
    except struct.error:
        raise RemoteProtocolError(
            f"uhid event type {type_} is truncated ({len(data)} bytes)"
        ) from None
    raise RemoteProtocolError(f"uhid event type {type_} is not one this codec knows")


def _sized(data: bytes, size: int) -> bytes:
    if size > len(data) or size > UHID_DATA_MAX:
        raise RemoteProtocolError(f"uhid event says {size} data bytes, only {len(data)} present")
    return data[:size]
