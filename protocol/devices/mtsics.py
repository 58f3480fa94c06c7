"""Mettler Toledo MT-SICS level 0/1 over a serial line, sans-I/O.

Sources (Reference Manual "MT-SICS Interface Command Set", e.g. 11781363 for
weigh modules or 11780711 for New Classic balances; section numbers are the
weigh-module edition's):

* §2.1 Command formats: commands are upper-case ASCII, parameters separated
  by one space, every command and every response is closed by CR LF.
* §2.1.2.1 Format of responses with weight value:
  ``ID _ Status _ WeightValue _ Unit``; the weight value is a 10-character,
  right-aligned number with sign and decimal point, padded with spaces.
* §2.1.2.2 Format of responses without weight value: ``ID _ Status``.
* §2.1.3.2 General error messages: ``ES`` syntax error (command not
  recognised), ``ET`` transmission error (parity, break), ``EL`` logical
  error (command understood but cannot be executed), each alone on a line.
* §3 "S", "SI", "SIR", "Z", "T", "@" and "I4": which status characters each
  command may answer (S: S/I/+/-; SI/SIR: S/D/I/+/-; Z: A/I/+/-;
  T: S/I/+/-; "@" answers like I4: ``I4 A "serial number"``).

Two stream decoders share one line splitter: :class:`ReplyDecoder` (the
driver reads the balance) and :class:`CommandDecoder` (the simulator reads the
host). A bad line raises :class:`RemoteProtocolError` after it has been
consumed, so the next call carries on at the following line: the decoder
resynchronises on CR LF by construction.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final

from protocol.errors import NEED_DATA, NeedData, RemoteProtocolError

#: §2.1: every command and response ends with CR LF.
TERMINATOR: Final = b"\r\n"
#: Longest line we accept. The longest level 0/1 response (I4 with a serial
#: number, or a weight line) is far shorter; anything longer is a stuck line.
MAX_LINE: Final = 128
#: §2.1.2.1: the weight value field is 10 characters, right-aligned.
WEIGHT_FIELD_WIDTH: Final = 10


class CommandName(enum.Enum):
    """The commands this codec speaks (§3), by their wire spelling."""

    SEND_STABLE = "S"
    SEND_IMMEDIATELY = "SI"
    SEND_IMMEDIATELY_REPEAT = "SIR"
    ZERO = "Z"
    TARE = "T"
    RESET = "@"
    SERIAL_NUMBER = "I4"


class Status(enum.Enum):
    """Second field of a response (§3, per command).

    ``OVER``/``UNDER`` mean "overload/underload" for S and SI, and "upper/lower
    limit of the zero or tare range exceeded" for Z and T.
    """

    STABLE = "S"
    DYNAMIC = "D"
    DONE = "A"
    NOT_EXECUTABLE = "I"
    OVER = "+"
    UNDER = "-"


class ErrorCode(enum.Enum):
    """§2.1.3.2 general error messages."""

    SYNTAX = "ES"
    TRANSMISSION = "ET"
    LOGICAL = "EL"


@dataclass(frozen=True)
class Command:
    """A host command; level 0/1 commands used here carry no parameters."""

    name: CommandName


@dataclass(frozen=True)
class WeightReply:
    """``S S 100.00 g``, ``S D 99.98 g`` (SI only) or ``T S 12.00 g``."""

    ident: str
    stable: bool
    value: Decimal
    unit: str


@dataclass(frozen=True)
class StatusReply:
    """A response without weight value: ``S I``, ``S +``, ``Z A``, ``T I``..."""

    ident: str
    status: Status


@dataclass(frozen=True)
class SerialNumberReply:
    """``I4 A "0123456789"``: the answer to I4 and to "@" (reset)."""

    serial: str


@dataclass(frozen=True)
class ErrorReply:
    code: ErrorCode


Reply = WeightReply | StatusReply | SerialNumberReply | ErrorReply

# §3: which status characters each response ID may carry without a value.
_STATUS_ONLY: Final[dict[str, frozenset[Status]]] = {
    "S": frozenset({Status.NOT_EXECUTABLE, Status.OVER, Status.UNDER}),
    "Z": frozenset({Status.DONE, Status.NOT_EXECUTABLE, Status.OVER, Status.UNDER}),
    "T": frozenset({Status.NOT_EXECUTABLE, Status.OVER, Status.UNDER}),
}
# ...and with a weight value: S answers stable (S) or dynamic (D, SI/SIR only);
# T answers the stored tare, always stable.
_WITH_VALUE: Final[dict[str, frozenset[Status]]] = {
    "S": frozenset({Status.STABLE, Status.DYNAMIC}),
    "T": frozenset({Status.STABLE}),
}
_COMMANDS: Final = {c.value: c for c in CommandName}
_ERRORS: Final = {e.value: e for e in ErrorCode}
_STATUSES: Final = {s.value: s for s in Status}
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_UNIT = re.compile(r"[A-Za-z%][A-Za-z0-9%/]{0,5}")
_SERIAL = re.compile(r'I4 A "([ !#-~]*)"')


def _show(line: bytes) -> str:
    text = line[:40].decode("ascii", "backslashreplace")
    return repr(text + ("..." if len(line) > 40 else ""))


def _ascii_text(line: bytes) -> str:
    for col, byte in enumerate(line):
        # §2.1: commands and responses are printable ASCII between delimiters;
        # a control or 8-bit byte is line noise (or a baud/parity mismatch).
        if not 0x20 <= byte <= 0x7E:
            raise RemoteProtocolError(
                f"MT-SICS line {_show(line)} has non-printable byte 0x{byte:02x} at column {col}"
            )
    return line.decode("ascii")


class _LineSplitter:
    """Cuts a byte stream into CR LF terminated lines no longer than ``max_line``."""

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self._buf = bytearray()
        self._discarding = False

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_line(self) -> bytes | NeedData:
        if self._discarding:
            end = self._buf.find(TERMINATOR)
            if end < 0:
                # Keep a trailing CR: it may be the first half of the terminator.
                keep = 1 if self._buf.endswith(b"\r") else 0
                del self._buf[: len(self._buf) - keep]
                return NEED_DATA
            del self._buf[: end + len(TERMINATOR)]
            self._discarding = False
        end = self._buf.find(TERMINATOR)
        if end < 0:
            if len(self._buf) > self.max_line + 1:  # +1: a CR waiting for its LF
                self._discarding = True
                raise RemoteProtocolError(
                    f"MT-SICS line longer than {self.max_line} bytes without CR LF; "
                    "skipping to the next CR LF"
                )
            return NEED_DATA
        line = bytes(self._buf[:end])
        del self._buf[: end + len(TERMINATOR)]
        if len(line) > self.max_line:
            raise RemoteProtocolError(
                f"MT-SICS line of {len(line)} bytes exceeds the {self.max_line}-byte limit"
            )
        return line


def parse_reply(line: bytes) -> Reply:
    """Parse one response line (without CR LF); raise RemoteProtocolError if it is not one."""
    text = _ascii_text(line)
    if not text:
        raise RemoteProtocolError("empty MT-SICS line (CR LF alone)")
    if text in _ERRORS:
        return ErrorReply(_ERRORS[text])
    if text.startswith("I4"):
        match = _SERIAL.fullmatch(text)
        if match is None:
            raise RemoteProtocolError(f'I4 reply {_show(line)} is not I4 A "serial number"')
        return SerialNumberReply(match.group(1))
    fields = text.split()
    if not fields:
        raise RemoteProtocolError(f"MT-SICS line {_show(line)} holds only blanks")
    ident = fields[0]
    if ident not in _STATUS_ONLY:
        raise RemoteProtocolError(f"unknown MT-SICS reply {_show(line)}")
    if len(fields) < 2 or fields[1] not in _STATUSES:
        raise RemoteProtocolError(f"MT-SICS reply {_show(line)} has no valid status character")
    status = _STATUSES[fields[1]]
    if len(fields) == 2:
        if status not in _STATUS_ONLY[ident]:
            if status in _WITH_VALUE.get(ident, frozenset()):
                raise RemoteProtocolError(
                    f"MT-SICS reply {_show(line)} has status {status.value} but no weight value"
                )
            raise RemoteProtocolError(f"{ident} never answers status {status.value}")
        return StatusReply(ident, status)
    if status not in _WITH_VALUE.get(ident, frozenset()):
        raise RemoteProtocolError(
            f"MT-SICS reply {_show(line)}: {ident} {status.value} carries no weight value"
        )
    if len(fields) != 4:
        raise RemoteProtocolError(
            f"MT-SICS weight reply {_show(line)} is not 'ID status value unit'"
        )
    number, unit = fields[2], fields[3]
    if _NUMBER.fullmatch(number) is None:
        raise RemoteProtocolError(f"MT-SICS weight value {number!r} is not a number")
    if _UNIT.fullmatch(unit) is None:
        raise RemoteProtocolError(f"MT-SICS weight unit {unit!r} is not a unit")
    try:
        value = Decimal(number)
    except InvalidOperation:  # pragma: no cover - the regex admits only numbers
        raise RemoteProtocolError(f"MT-SICS weight value {number!r} is not a number") from None
    return WeightReply(ident, status is Status.STABLE, value, unit)


def parse_command(line: bytes) -> Command:
    """Parse one host command line (without CR LF)."""
    text = _ascii_text(line)
    # §2.1: commands are upper case; the balance answers ES to anything else,
    # so the simulator turns this error into an ES reply.
    if text not in _COMMANDS:
        raise RemoteProtocolError(f"unknown MT-SICS command {_show(line)}")
    return Command(_COMMANDS[text])


class ReplyDecoder:
    """Balance -> host. ``feed(bytes)``, then ``next_message()`` until NEED_DATA."""

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self._lines = _LineSplitter(max_line)

    def feed(self, data: bytes) -> None:
        self._lines.feed(data)

    def next_message(self) -> Reply | NeedData:
        line = self._lines.next_line()
        if isinstance(line, NeedData):
            return line
        return parse_reply(line)


class CommandDecoder:
    """Host -> balance (the simulator's side)."""

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self._lines = _LineSplitter(max_line)

    def feed(self, data: bytes) -> None:
        self._lines.feed(data)

    def next_message(self) -> Command | NeedData:
        line = self._lines.next_line()
        if isinstance(line, NeedData):
            return line
        return parse_command(line)


def encode_command(command: Command) -> bytes:
    return command.name.value.encode("ascii") + TERMINATOR


def format_weight(value: Decimal) -> str:
    """§2.1.2.1: right-aligned in a 10-character field, fixed-point, no exponent."""
    return f"{value:f}".rjust(WEIGHT_FIELD_WIDTH)


def encode_reply(reply: Reply) -> bytes:
    if isinstance(reply, WeightReply):
        status = Status.STABLE if reply.stable else Status.DYNAMIC
        text = f"{reply.ident} {status.value} {format_weight(reply.value)} {reply.unit}"
    elif isinstance(reply, StatusReply):
        text = f"{reply.ident} {reply.status.value}"
    elif isinstance(reply, SerialNumberReply):
        text = f'I4 A "{reply.serial}"'
    else:
        text = reply.code.value
    return text.encode("ascii") + TERMINATOR
