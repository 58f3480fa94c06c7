"""ZPL II for the courier label printer: label builder, job-stream parser, ``~HS`` status.

Everything here follows the Zebra *ZPL II Programming Guide* (P1012728, the
"ZPL Commands" chapter); section names below are the command headings in
that guide. Sans-I/O: bytes in, typed values out, no sockets or clocks.

Three parts:

1. :func:`build_label` turns a typed :class:`ShippingLabel` into one
   ``^XA ... ^XZ`` format (UTF-8 via ``^CI28``, Code 128 waybill via ``^BC``,
   user text escaped with ``^FH``).
2. :class:`ZplStreamDecoder` splits a raw port-9100 job stream into
   :class:`LabelFormat` (one ``^XA..^XZ``) and :class:`ControlCommand`
   (``~HS``, ``~JA``, ...); :func:`interpret` turns a format into the fields
   a simulator draws.
3. :class:`HostStatus` with :func:`encode_host_status` (printer side) and
   :class:`HostStatusDecoder` (host side) for the three ``~HS`` strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from protocol.devices.waybill_privacy import mask_address, mask_name, mask_phone
from protocol.devices.zpl_query import HostQueryStatus
from protocol.errors import NEED_DATA, NeedData, RemoteProtocolError

CARET: Final = 0x5E  # ^ format prefix (^CC changes it; we never do)
TILDE: Final = 0x7E  # ~ control prefix (^CT/~CT changes it; we never do)
STX: Final = 0x02
ETX: Final = 0x03

#: A format larger than this without ``^XZ`` is treated as garbage, so a
#: stream that never closes its format cannot grow the buffer forever.
MAX_FORMAT_BYTES: Final = 1 << 20

# ---------------------------------------------------------------------------
# 1. Label builder
# ---------------------------------------------------------------------------

#: Waybill numbers of Chinese couriers (SF, ZTO, YTO, JD, EMS ...) are letters,
#: digits and dashes. Restricting to these keeps the ``^BC`` field free of the
#: ``>`` invocation characters that ``^BC`` gives special meaning (^BC,
#: "Code 128 Subsets"), and of anything that needs ``^FH``.
WAYBILL_RE: Final = re.compile(r"[A-Za-z0-9-]{1,40}")

# Bytes that must not appear raw in ^FD data: the two command prefixes, the
# ^FH indicator itself, and control bytes (CR/LF are dropped by the printer).
_ESCAPE_BYTES: Final = frozenset({CARET, TILDE, ord("_"), 0x7F, *range(0x20)})


@dataclass(frozen=True)
class ShippingLabel:
    """What a courier label shows. ``weight_g`` is grams, as the scale reports."""

    waybill: str
    carrier: str
    order_id: str
    weight_g: int
    recipient_name: str
    recipient_phone: str
    province: str
    city: str
    district: str
    address: str
    #: The courier's route code and sorting centre (e-waybills), printed big; "" for none.
    route: str = ""

    def __post_init__(self) -> None:
        if not WAYBILL_RE.fullmatch(self.waybill):
            raise ValueError(f"waybill {self.waybill!r} must be 1-40 letters, digits or dashes")
        if isinstance(self.weight_g, bool) or not isinstance(self.weight_g, int):
            raise ValueError("weight_g must be an int number of grams")
        if self.weight_g < 0:
            raise ValueError(f"weight_g {self.weight_g} is negative")


@dataclass(frozen=True)
class LabelStock:
    """Label size and print head resolution.

    The default is the 100 x 150 mm thermal stock used for Chinese courier
    e-waybills on an 8 dots/mm (203 dpi) head. ``font`` is what follows ``^A``:
    ``"0"`` is the resident scalable font, which has no CJK glyphs; on a real
    printer set it to ``"@"`` plus ``font_file`` (a TrueType font with CJK
    glyphs stored on the printer, e.g. ``"E:SIMSUN.TTF"``) -- ^A@, "Use Font
    Name to Call Font".
    """

    width_dots: int = 800
    length_dots: int = 1200
    dots_per_mm: int = 8
    font: str = "0"
    font_file: str | None = None


DEFAULT_STOCK: Final = LabelStock()


def escape_field(text: str) -> bytes:
    """Field data for a ``^FH^FD...^FS`` field: UTF-8 with ``_XX`` hex escapes.

    ^FH, "Field Hexadecimal Indicator": with ``^FH`` before ``^FD``, the
    indicator (default ``_``) followed by two hex digits stands for that byte;
    under ``^CI28`` the bytes are UTF-8. We escape ``^`` and ``~`` (a raw one
    would start a new command, ^FD "Field Data" notes), ``_`` itself, and
    control bytes. UTF-8 multi-byte sequences are all >= 0x80 so they never
    collide and go out raw.
    """
    out = bytearray()
    for b in text.encode("utf-8"):
        if b in _ESCAPE_BYTES:
            out += b"_%02X" % b
        else:
            out.append(b)
    return bytes(out)


def _text(x: int, y: int, height: int, text: str, stock: LabelStock, block_width: int = 0) -> bytes:
    font = f"^A{stock.font}N,{height},{height}"
    if stock.font == "@" and stock.font_file:
        font += f",{stock.font_file}"
    # ^FB "Field Block": wrap long addresses into up to 3 lines instead of
    # running off the label.
    block = f"^FB{block_width},3,4,L,0" if block_width else ""
    return f"^FO{x},{y}{block}{font}^FH^FD".encode() + escape_field(text) + b"^FS\n"


def code128_module_estimate(data: str) -> int:
    """Upper bound of Code 128 modules for ``data``: all in subset B.

    Start (11) + 11 per char + check (11) + stop (13), per ISO/IEC 15417.
    """
    return 11 * (len(data) + 2) + 13


def build_label(label: ShippingLabel, stock: LabelStock = DEFAULT_STOCK) -> bytes:
    """One complete ZPL II format for ``label``, ready to send to port 9100."""
    margin = 3 * stock.dots_per_mm
    inner = stock.width_dots - 2 * margin
    # ^BY "Bar Code Field Default": the narrow bar width in dots. Widest that
    # fits (cap 3 dots, which scanners read well at 203 dpi), keeping a
    # 10-module quiet zone each side (ISO/IEC 15417 section 4.4.2).
    modules = code128_module_estimate(label.waybill) + 20
    module = max(1, min(3, inner // modules))
    bar_h = 20 * stock.dots_per_mm
    bar_x = margin + max(0, (inner - modules * module) // 2) + 10 * module
    y_rule1 = margin + 10 * stock.dots_per_mm
    y_addr = y_rule1 + bar_h + 12 * stock.dots_per_mm
    y_rule3 = y_addr + 30 * stock.dots_per_mm
    big, mid = 6 * stock.dots_per_mm, 4 * stock.dots_per_mm

    out = bytearray(b"^XA\n")
    # ^CI28: field data is UTF-8 (^CI "Change International Font/Encoding").
    out += b"^CI28\n"
    out += f"^PW{stock.width_dots}\n^LL{stock.length_dots}\n^LH0,0\n".encode()
    out += _text(margin, margin, big, label.carrier, stock)
    out += _text(
        stock.width_dots // 2 + margin,
        margin + stock.dots_per_mm,
        mid,
        f"{label.weight_g} g",
        stock,
    )
    out += f"^FO{margin},{y_rule1}^GB{inner},3,3^FS\n".encode()
    # ^BC "Code 128 Bar Code": orientation N, height, interpretation line
    # below (Y,N), no UCC check digit (N), mode A = the printer picks subsets
    # (digit pairs go in subset C, so long waybills stay short).
    out += f"^BY{module},3,{bar_h}\n".encode()
    out += f"^FO{bar_x},{y_rule1 + 2 * stock.dots_per_mm}^BCN,{bar_h},Y,N,N,A".encode()
    out += b"^FD" + label.waybill.encode("ascii") + b"^FS\n"
    out += f"^FO{margin},{y_addr - 3 * stock.dots_per_mm}^GB{inner},3,3^FS\n".encode()
    # The recipient as the privacy waybill shows them (GB/T 41833-2022; waybill_privacy.py):
    # the order keeps the whole record, the label only what the standard allows.
    who = f"收 {mask_name(label.recipient_name)}  {mask_phone(label.recipient_phone)}"
    out += _text(margin, y_addr, big, who, stock)
    out += _text(
        margin,
        y_addr + 8 * stock.dots_per_mm,
        mid,
        f"{label.province} {label.city} {label.district}",
        stock,
    )
    out += _text(
        margin,
        y_addr + 14 * stock.dots_per_mm,
        mid,
        mask_address(label.address),
        stock,
        block_width=inner,
    )
    out += f"^FO{margin},{y_rule3}^GB{inner},3,3^FS\n".encode()
    out += _text(margin, y_rule3 + 3 * stock.dots_per_mm, mid, f"订单 {label.order_id}", stock)
    out += _text(
        margin,
        y_rule3 + 9 * stock.dots_per_mm,
        mid,
        f"重量 {label.weight_g} g   {label.carrier} {label.waybill}",
        stock,
    )
    if label.route:
        # The courier's sorting route (三段码 and centre, from its e-waybill print data):
        # big, where the sorters look.
        out += _text(margin, y_rule3 + 16 * stock.dots_per_mm, big, label.route, stock)
    # ^PQ "Print Quantity": exactly one label per format.
    out += b"^PQ1\n^XZ\n"
    return bytes(out)


# ---------------------------------------------------------------------------
# 2. Job-stream parser
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ZplCommand:
    """One ``^`` command inside a format: ``^FO30,40`` is code ``FO``, params ``30,40``.

    ``params`` is decoded UTF-8 with ``surrogateescape`` so any byte survives
    a round trip; ^FH escapes are still in place (see :func:`unescape_field`).
    """

    code: str
    params: str = ""

    def encode(self) -> bytes:
        return b"^" + self.code.encode("ascii") + self.params.encode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class LabelFormat:
    """One ``^XA ... ^XZ`` format, without the ``^XA``/``^XZ`` themselves.

    ``raw`` is the bytes as received (excluded from equality).
    """

    commands: tuple[ZplCommand, ...]
    raw: bytes = field(default=b"", compare=False, repr=False)

    def encode(self) -> bytes:
        return b"^XA" + b"".join(c.encode() for c in self.commands) + b"^XZ"


@dataclass(frozen=True)
class ControlCommand:
    """A ``~`` command (``~HS``, ``~JA``, ...): acted on at once, even mid-format."""

    code: str
    params: str = ""

    def encode(self) -> bytes:
        return b"~" + self.code.encode("ascii") + self.params.encode("utf-8", "surrogateescape")


ZplEvent = LabelFormat | ControlCommand

#: Control commands that take no parameters, so three bytes complete them and
#: the decoder need not wait for a delimiter (each is its own heading in the
#: guide: ~HS Host Status Return, ~JA Cancel All, ~HI Host Identification,
#: ~HM Host RAM Status, ~HD Head Diagnostic, ~JR Power On Reset, ~PS Print
#: Start, ~PP Programmable Pause, ~WC Print Configuration Label, ~HB Battery
#: Status, ~HU Return ZebraNet Alert Configuration, ~JC Set Media Sensor
#: Calibration, ~JL Set Label Length, ~JX Cancel Current Partially Input Format).
PARAMETERLESS_CONTROL: Final = frozenset(
    {"HS", "JA", "HI", "HM", "HD", "JR", "PS", "PP", "WC", "HB", "HU", "JC", "JL", "JX"}
)
#: Control commands whose parameter has a fixed length: ``~HQ`` takes a two-letter query
#: type (guide, ~HQ Host Query: ``~HQES``), so a driver's bare ``~HQES`` is complete and
#: is answered at once, not after the next command (protocol/devices/zpl_query.py).
FIXED_PARAM_CONTROL: Final = {"HQ": 2}

_CODE_BYTES: Final = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@")
_WHITESPACE: Final = b" \t\r\n"


def _code(buf: bytes | bytearray, at: int, prefix: str) -> str:
    raw = bytes(buf[at : at + 2])
    if any(b not in _CODE_BYTES for b in raw.upper()):
        raise RemoteProtocolError(
            f"{prefix}{raw!r} is not a ZPL command (two letters/digits must follow {prefix})"
        )
    return raw.decode("ascii").upper()


def _next_prefix(buf: bytes | bytearray, start: int) -> int:
    """Index of the next ``^`` or ``~`` at or after ``start``, or -1."""
    a = buf.find(b"^", start)
    b = buf.find(b"~", start)
    if a < 0:
        return b
    if b < 0:
        return a
    return min(a, b)


def _params(code: str, raw: bytes) -> str:
    # CR/LF only lay out a hand-written file; the printer discards them, so
    # they never reach field data. Other whitespace is data inside ^FD/^FX but
    # mere indentation after any other command.
    raw = raw.replace(b"\r", b"").replace(b"\n", b"")
    if code not in ("FD", "FX"):
        raw = raw.rstrip(b" \t")
    return raw.decode("utf-8", "surrogateescape")


class ZplStreamDecoder:
    """h11-style decoder for what a host sends to port 9100.

    ``feed()`` bytes, then call ``next_message()`` until it returns
    :data:`NEED_DATA`. A ``~`` command inside an unfinished format is returned
    first, as the printer acts on it at once (guide, "Control Commands":
    tilde commands are processed immediately).
    """

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data

    @property
    def pending(self) -> bytes:
        """Bytes received but not yet part of a complete message."""
        return bytes(self._buf)

    @property
    def in_format(self) -> bool:
        """True if a ``^XA`` arrived whose ``^XZ`` has not (~HS partial format flag)."""
        return self._buf.lstrip(_WHITESPACE).startswith(b"^XA")

    def next_message(self) -> ZplEvent | NeedData:
        buf = self._buf
        pos = 0
        while pos < len(buf) and buf[pos] in _WHITESPACE:
            pos += 1
        if pos:
            del buf[:pos]
            pos = 0
        if not buf:
            return NEED_DATA
        first = buf[0]
        if first == TILDE:
            return self._control(0)
        if first != CARET:
            raise RemoteProtocolError(
                f"expected ^XA or a ~ command between formats, got {bytes(buf[:16])!r}"
            )
        if len(buf) < 3:
            if len(buf) == 2:
                _code(buf + b"A", 1, "^")  # reject "^!" now, not after more bytes
            return NEED_DATA
        code = _code(buf, 1, "^")
        if code != "XA":
            raise RemoteProtocolError(f"^{code} outside a format: a format starts with ^XA")
        return self._format()

    def _control(self, at: int) -> ControlCommand | NeedData:
        buf = self._buf
        if len(buf) - at < 3:
            if len(buf) - at == 2:
                _code(buf + b"S", at + 1, "~")
            return NEED_DATA
        code = _code(buf, at + 1, "~")
        if code in PARAMETERLESS_CONTROL:
            end = at + 3
        elif code in FIXED_PARAM_CONTROL:
            end = at + 3 + FIXED_PARAM_CONTROL[code]
            if len(buf) < end:
                return NEED_DATA
        else:
            # A parameterised ~ command ends at the next prefix or line end.
            ends = [
                i
                for i in (
                    _next_prefix(buf, at + 3),
                    buf.find(b"\n", at + 3),
                    buf.find(b"\r", at + 3),
                )
                if i >= 0
            ]
            if not ends:
                if len(buf) - at > MAX_FORMAT_BYTES:
                    raise RemoteProtocolError(f"~{code} runs over {MAX_FORMAT_BYTES} bytes")
                return NEED_DATA
            end = min(ends)
        params = _params(code, bytes(buf[at + 3 : end]))
        del buf[at:end]
        return ControlCommand(code, params)

    def _format(self) -> ZplEvent | NeedData:
        buf = self._buf
        i = _next_prefix(buf, 3)
        if i < 0:
            return self._incomplete()
        if buf[3:i].strip(_WHITESPACE):
            raise RemoteProtocolError(f"text {bytes(buf[3:i][:16])!r} right after ^XA")
        commands: list[ZplCommand] = []
        while True:
            if buf[i] == TILDE:
                return self._control(i)
            if len(buf) - i < 3:
                if len(buf) - i == 2:
                    _code(buf + b"S", i + 1, "^")
                return self._incomplete()
            code = _code(buf, i + 1, "^")
            if code == "XZ":
                end = i + 3
                raw = bytes(buf[:end])
                del buf[:end]
                return LabelFormat(tuple(commands), raw)
            if code == "XA":
                raise RemoteProtocolError("^XA inside a format: the previous ^XA has no ^XZ")
            j = _next_prefix(buf, i + 3)
            if j < 0:
                return self._incomplete()
            commands.append(ZplCommand(code, _params(code, bytes(buf[i + 3 : j]))))
            i = j

    def _incomplete(self) -> NeedData:
        if len(self._buf) > MAX_FORMAT_BYTES:
            raise RemoteProtocolError(f"format runs over {MAX_FORMAT_BYTES} bytes without ^XZ")
        return NEED_DATA


def decode_all(data: bytes) -> list[ZplEvent]:
    """Every complete message in ``data`` (a convenience for tests and tools)."""
    dec = ZplStreamDecoder()
    dec.feed(data)
    out: list[ZplEvent] = []
    while not isinstance(msg := dec.next_message(), NeedData):
        out.append(msg)
    return out


# --- what a format draws ----------------------------------------------------


@dataclass(frozen=True)
class TextField:
    x: int
    y: int
    height: int
    text: str
    block_width: int = 0


@dataclass(frozen=True)
class BarcodeField:
    """A ``^BC`` Code 128 field; ``module`` is the narrow bar width in dots (^BY)."""

    x: int
    y: int
    height: int
    module: int
    data: str
    interpretation: bool = True


@dataclass(frozen=True)
class BoxField:
    x: int
    y: int
    width: int
    height: int
    thickness: int


LabelField = TextField | BarcodeField | BoxField


@dataclass(frozen=True)
class LabelLayout:
    """What one format puts on paper: size in dots and the fields."""

    width: int
    length: int
    quantity: int
    fields: tuple[LabelField, ...]

    def texts(self) -> list[str]:
        return [f.text for f in self.fields if isinstance(f, TextField)]

    def barcodes(self) -> list[str]:
        return [f.data for f in self.fields if isinstance(f, BarcodeField)]


def unescape_field(data: str, indicator: str = "_", utf8: bool = True) -> str:
    """Undo ^FH escapes (``_5E`` -> ``^``) and decode the bytes (UTF-8 under ^CI28)."""
    raw = data.encode("utf-8", "surrogateescape")
    ind = indicator.encode("latin-1")[0]
    out = bytearray()
    i = 0
    while i < len(raw):
        b = raw[i]
        if b == ind:
            pair = raw[i + 1 : i + 3]
            try:
                out.append(int(pair, 16))
            except ValueError:
                raise RemoteProtocolError(
                    f"^FH escape {indicator}{pair.decode('latin-1')!r} is not two hex digits"
                ) from None
            if len(pair) != 2:
                raise RemoteProtocolError(f"^FH escape at the end of field data {data!r}")
            i += 3
        else:
            out.append(b)
            i += 1
    if not utf8:
        return out.decode("latin-1")
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RemoteProtocolError(f"field data is not UTF-8 under ^CI28: {err}") from None


def _ints(params: str, defaults: list[int]) -> list[int]:
    """Comma parameters as ints; empty or missing ones take the default."""
    parts = params.split(",")
    out: list[int] = []
    for i, d in enumerate(defaults):
        p = parts[i].strip() if i < len(parts) else ""
        if not p:
            out.append(d)
            continue
        try:
            out.append(int(p))
        except ValueError:
            raise RemoteProtocolError(
                f"parameter {i + 1} {p!r} in {params!r} is not a number"
            ) from None
    return out


def interpret(fmt: LabelFormat) -> LabelLayout:
    """The fields one format draws, for a simulator to render.

    Covers what :func:`build_label` and typical courier templates use:
    ^CI, ^PW, ^LL, ^LH, ^FO, ^A, ^FB, ^BY, ^BC, ^GB, ^FH, ^FD, ^FS, ^PQ. Other
    commands are accepted and ignored, as the printer has them but they do not
    change what we draw.
    """
    width, length, quantity = 812, 1218, 1
    home_x = home_y = 0
    utf8 = False
    x = y = 0
    font_h = 30
    module, bar_h = 2, 10
    block = 0
    hex_ind: str | None = None
    pending: BarcodeField | None = None
    box: tuple[int, int, int] | None = None
    fields: list[LabelField] = []
    for cmd in fmt.commands:
        c, p = cmd.code, cmd.params
        if c == "CI":
            utf8 = p.split(",")[0].strip() == "28"
        elif c == "PW":
            width = _ints(p, [width])[0]
        elif c == "LL":
            length = _ints(p, [length])[0]
        elif c == "LH":
            home_x, home_y = _ints(p, [0, 0])
        elif c == "PQ":
            quantity = _ints(p, [1])[0]
        elif c == "FO":
            fx, fy = _ints(p, [0, 0])
            x, y = home_x + fx, home_y + fy
        elif c[0] == "A":
            # ^Afo,h,w: the font name is the 2nd code char, so params are
            # "o,h,w": orientation, then height.
            font_h = _ints(",".join(p.split(",")[1:2]), [font_h])[0]
        elif c == "FB":
            block = _ints(p, [0])[0]
        elif c == "BY":
            # ^BYw,r,h: r (wide:narrow ratio) may be a decimal and does not
            # apply to Code 128, so only w and h are read.
            parts = p.split(",")
            module = _ints(parts[0], [module])[0]
            bar_h = _ints(",".join(parts[2:3]), [bar_h])[0]
        elif c == "BC":
            parts = p.split(",")
            h = _ints(",".join(parts[1:2]), [bar_h])[0]
            interp = (parts[2].strip().upper() if len(parts) > 2 else "Y") != "N"
            pending = BarcodeField(x, y, h, module, "", interp)
        elif c == "GB":
            w, h, t = _ints(p, [1, 1, 1])
            box = (max(w, t), max(h, t), t)
        elif c == "FH":
            hex_ind = p[:1] or "_"
        elif c == "FD":
            data = unescape_field(p, hex_ind, utf8) if hex_ind else _plain(p, utf8)
            if pending is not None:
                pending = BarcodeField(
                    pending.x,
                    pending.y,
                    pending.height,
                    pending.module,
                    data,
                    pending.interpretation,
                )
                fields.append(pending)
            else:
                fields.append(TextField(x, y, font_h, data, block))
        elif c == "FS":
            if box is not None:
                fields.append(BoxField(x, y, box[0], box[1], box[2]))
            pending, box, hex_ind, block = None, None, None, 0
    return LabelLayout(width, length, quantity, tuple(fields))


def _plain(p: str, utf8: bool) -> str:
    raw = p.encode("utf-8", "surrogateescape")
    if not utf8:
        return raw.decode("latin-1")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RemoteProtocolError(f"field data is not UTF-8 under ^CI28: {err}") from None


# ---------------------------------------------------------------------------
# 3. ~HS host status
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HostStatus:
    """The three ``~HS`` strings (guide, ~HS "Host Status Return").

    String 1 ``aaa,b,c,dddd,eee,f,g,h,iii,j,k,l``; string 2
    ``mmm,n,o,p,q,r,s,t,uuuuuuuu,v,www``; string 3 ``xxxx,y``. Field names
    follow the guide's descriptions; flags are 1 = true.
    """

    # string 1
    interface_settings: int = 0  # aaa: communication settings bit field
    paper_out: bool = False  # b
    paused: bool = False  # c
    label_length_dots: int = 1200  # dddd
    formats_in_buffer: int = 0  # eee
    buffer_full: bool = False  # f
    diagnostic_mode: bool = False  # g: communications diagnostic mode
    partial_format: bool = False  # h: a format is partly received
    corrupt_ram: bool = False  # j: configuration data lost
    under_temperature: bool = False  # k
    over_temperature: bool = False  # l
    # string 2
    function_settings: int = 0  # mmm: function settings bit field
    head_open: bool = False  # o: head up
    ribbon_out: bool = False  # p
    thermal_transfer: bool = False  # q: 0 = direct thermal
    print_mode: str = "2"  # r: 0 rewind, 1 peel-off, 2 tear-off, 3 cutter, ...
    print_width_mode: int = 0  # s
    label_waiting: bool = False  # t: label waiting in peel-off mode
    labels_remaining: int = 0  # uuuuuuuu: labels remaining in batch
    graphics_stored: int = 0  # www: graphic images stored in memory
    # string 3
    password: int = 0  # xxxx
    static_ram: bool = False  # y: static RAM installed
    #: The ``~HQES`` answer asked with it, when the printer gives one (zpl_query.py).
    query: HostQueryStatus | None = None

    def problems(self) -> list[str]:
        """Why this printer cannot print now, in words; empty if it can."""
        out: list[str] = []
        for flag, words in (
            (self.paper_out, "paper out"),
            (self.head_open, "head open"),
            (self.paused, "paused"),
            (self.ribbon_out, "ribbon out"),
            (self.buffer_full, "receive buffer full"),
            (self.over_temperature, "head over temperature"),
            (self.corrupt_ram, "corrupt RAM"),
        ):
            if flag:
                out.append(words)
        if self.query is not None:  # what ~HS has no flag for (cutter fault, ...)
            out.extend(w for w in self.query.problems() if w not in out)
        return out

    def warnings(self) -> list[str]:
        """What does not stop printing yet (paper near end), from ``~HQES``."""
        return [] if self.query is None else self.query.warning_words()

    @property
    def ready(self) -> bool:
        return not self.problems()


def _b(flag: bool) -> str:
    return "1" if flag else "0"


def encode_host_status(s: HostStatus) -> bytes:
    """The ``~HS`` answer: three ``<STX>...<ETX><CR><LF>`` strings."""
    one = (
        f"{s.interface_settings:03d},{_b(s.paper_out)},{_b(s.paused)},"
        f"{s.label_length_dots:04d},{s.formats_in_buffer:03d},{_b(s.buffer_full)},"
        f"{_b(s.diagnostic_mode)},{_b(s.partial_format)},000,{_b(s.corrupt_ram)},"
        f"{_b(s.under_temperature)},{_b(s.over_temperature)}"
    )
    two = (
        f"{s.function_settings:03d},0,{_b(s.head_open)},{_b(s.ribbon_out)},"
        f"{_b(s.thermal_transfer)},{s.print_mode},{s.print_width_mode},"
        f"{_b(s.label_waiting)},{s.labels_remaining:08d},1,{s.graphics_stored:03d}"
    )
    three = f"{s.password:04d},{_b(s.static_ram)}"
    return b"".join(b"\x02" + line.encode("ascii") + b"\x03\r\n" for line in (one, two, three))


_HS_FIELDS: Final = (12, 11, 2)
_HS_LINE_MAX: Final = 80


def _num(line: int, idx: int, v: str) -> int:
    if not v.isdigit() or not v.isascii():
        raise RemoteProtocolError(f"~HS string {line} field {idx + 1} {v!r} is not a number")
    return int(v)


def _flag(line: int, idx: int, v: str) -> bool:
    if v not in ("0", "1"):
        raise RemoteProtocolError(f"~HS string {line} field {idx + 1} {v!r} is not a 0/1 flag")
    return v == "1"


def _host_status(lines: list[list[str]]) -> HostStatus:
    a, b, c = lines
    return HostStatus(
        interface_settings=_num(1, 0, a[0]),
        paper_out=_flag(1, 1, a[1]),
        paused=_flag(1, 2, a[2]),
        label_length_dots=_num(1, 3, a[3]),
        formats_in_buffer=_num(1, 4, a[4]),
        buffer_full=_flag(1, 5, a[5]),
        diagnostic_mode=_flag(1, 6, a[6]),
        partial_format=_flag(1, 7, a[7]),
        corrupt_ram=_flag(1, 9, a[9]),
        under_temperature=_flag(1, 10, a[10]),
        over_temperature=_flag(1, 11, a[11]),
        function_settings=_num(2, 0, b[0]),
        head_open=_flag(2, 2, b[2]),
        ribbon_out=_flag(2, 3, b[3]),
        thermal_transfer=_flag(2, 4, b[4]),
        print_mode=_mode(b[5]),
        print_width_mode=_num(2, 6, b[6]),
        label_waiting=_flag(2, 7, b[7]),
        labels_remaining=_num(2, 8, b[8]),
        graphics_stored=_num(2, 10, b[10]),
        password=_num(3, 0, c[0]),
        static_ram=_flag(3, 1, c[1]),
    )


def _mode(v: str) -> str:
    if len(v) != 1 or not v.isascii() or not v.isalnum():
        raise RemoteProtocolError(f"~HS string 2 print mode {v!r} is not one character")
    return v


class HostStatusDecoder:
    """Host side of ``~HS``: feed bytes, ``next_message()`` -> HostStatus or NEED_DATA."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data

    def pending(self) -> bytes:
        """Bytes after the answer (a ``~HQES`` answer read in the same chunk)."""
        return bytes(self._buf)

    def next_message(self) -> HostStatus | NeedData:
        buf = self._buf
        lines: list[list[str]] = []
        pos = 0
        for n, want in enumerate(_HS_FIELDS, start=1):
            while pos < len(buf) and buf[pos] in b"\r\n":
                pos += 1
            if pos >= len(buf):
                return NEED_DATA
            if buf[pos] != STX:
                raise RemoteProtocolError(
                    f"~HS string {n} must start with STX (0x02), got {bytes(buf[pos : pos + 8])!r}"
                )
            end = buf.find(ETX, pos + 1)
            if end < 0:
                if len(buf) - pos > _HS_LINE_MAX or STX in buf[pos + 1 :]:
                    raise RemoteProtocolError(f"~HS string {n} has no ETX (0x03)")
                return NEED_DATA
            body = bytes(buf[pos + 1 : end])
            if not all(0x20 <= x < 0x7F for x in body):
                raise RemoteProtocolError(f"~HS string {n} holds non-ASCII bytes {body!r}")
            parts = body.decode("ascii").split(",")
            if len(parts) != want:
                raise RemoteProtocolError(
                    f"~HS string {n} has {len(parts)} fields, the guide lists {want}: {body!r}"
                )
            lines.append(parts)
            pos = end + 1
        status = _host_status(lines)
        # Swallow the CR LF after the third string if it is already here.
        while pos < len(buf) and buf[pos] in b"\r\n":
            pos += 1
        del buf[:pos]
        return status


def decode_host_status(data: bytes) -> HostStatus:
    """Decode one complete ``~HS`` answer; incomplete input is an error here."""
    dec = HostStatusDecoder()
    dec.feed(data)
    msg = dec.next_message()
    if isinstance(msg, NeedData):
        raise RemoteProtocolError(f"~HS answer is incomplete: {data!r}")
    return msg
