"""Typed LLRP messages (LLRP 1.0.1 §16.1) and their body encoders/decoders.

:func:`encode` frames any message with the 10-byte header (§4.1);
:class:`protocol.devices.llrp.decoder.LLRPDecoder` turns bytes back into these
types. Messages this codec does not model come back as :class:`UnknownMessage`
so a reader can answer them with ERROR_MESSAGE / M_UnsupportedMessage.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, TypeAlias

from protocol.devices.llrp.constants import (
    HEADER_LEN,
    LLRP_VERSION,
    MessageType,
    ParamType,
)
from protocol.devices.llrp.params import (
    SUCCESS,
    EventNotificationState,
    KeepaliveSpec,
    LLRPStatus,
    ReaderCapabilities,
    ROReportSpec,
    ROSpec,
    TagReport,
    decode_capabilities,
    decode_keepalive_spec,
    decode_report_spec,
    decode_rospec,
    decode_status,
    decode_tag_report,
    encode_capabilities,
    encode_keepalive_spec,
    encode_report_spec,
    encode_rospec,
    encode_status,
    encode_tag_report,
    find_status,
)
from protocol.devices.llrp.wire import Cursor, tlv, u8, u16, u32, u64
from protocol.errors import RemoteProtocolError

M = MessageType
P = ParamType
_HEADER = struct.Struct("!HII")


@dataclass(frozen=True, slots=True, kw_only=True)
class _Message:
    TYPE: ClassVar[int]
    message_id: int = 0


# --------------------------------------------------------- client -> reader


@dataclass(frozen=True, slots=True, kw_only=True)
class GetReaderCapabilities(_Message):
    TYPE: ClassVar[int] = M.GET_READER_CAPABILITIES
    requested_data: int = 0  # 0 = All (§16.1.1)


@dataclass(frozen=True, slots=True, kw_only=True)
class GetReaderConfig(_Message):
    TYPE: ClassVar[int] = M.GET_READER_CONFIG
    antenna_id: int = 0
    requested_data: int = 0
    gpi_port: int = 0
    gpo_port: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class SetReaderConfig(_Message):
    """§16.1.5; antenna properties/configuration and GPIO settings are skipped."""

    TYPE: ClassVar[int] = M.SET_READER_CONFIG
    reset_to_factory_defaults: bool = False
    event_states: tuple[EventNotificationState, ...] = ()
    report_spec: ROReportSpec | None = None
    keepalive: KeepaliveSpec | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EnableEventsAndReports(_Message):
    TYPE: ClassVar[int] = M.ENABLE_EVENTS_AND_REPORTS


@dataclass(frozen=True, slots=True, kw_only=True)
class AddROSpec(_Message):
    TYPE: ClassVar[int] = M.ADD_ROSPEC
    rospec: ROSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class _ROSpecIdMessage(_Message):
    rospec_id: int = 0  # 0 = all ROSpecs where the spec allows it


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteROSpec(_ROSpecIdMessage):
    TYPE: ClassVar[int] = M.DELETE_ROSPEC


@dataclass(frozen=True, slots=True, kw_only=True)
class StartROSpec(_ROSpecIdMessage):
    TYPE: ClassVar[int] = M.START_ROSPEC


@dataclass(frozen=True, slots=True, kw_only=True)
class StopROSpec(_ROSpecIdMessage):
    TYPE: ClassVar[int] = M.STOP_ROSPEC


@dataclass(frozen=True, slots=True, kw_only=True)
class EnableROSpec(_ROSpecIdMessage):
    TYPE: ClassVar[int] = M.ENABLE_ROSPEC


@dataclass(frozen=True, slots=True, kw_only=True)
class DisableROSpec(_ROSpecIdMessage):
    TYPE: ClassVar[int] = M.DISABLE_ROSPEC


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteAccessSpec(_Message):
    TYPE: ClassVar[int] = M.DELETE_ACCESSSPEC
    access_spec_id: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class KeepaliveAck(_Message):
    TYPE: ClassVar[int] = M.KEEPALIVE_ACK


@dataclass(frozen=True, slots=True, kw_only=True)
class CloseConnection(_Message):
    TYPE: ClassVar[int] = M.CLOSE_CONNECTION


# --------------------------------------------------------- reader -> client


@dataclass(frozen=True, slots=True, kw_only=True)
class _StatusMessage(_Message):
    status: LLRPStatus = SUCCESS


@dataclass(frozen=True, slots=True, kw_only=True)
class GetReaderCapabilitiesResponse(_Message):
    TYPE: ClassVar[int] = M.GET_READER_CAPABILITIES_RESPONSE
    status: LLRPStatus = SUCCESS
    capabilities: ReaderCapabilities | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GetReaderConfigResponse(_Message):
    """§16.1.4; only Identification and KeepaliveSpec are modelled."""

    TYPE: ClassVar[int] = M.GET_READER_CONFIG_RESPONSE
    status: LLRPStatus = SUCCESS
    reader_id: bytes | None = None
    keepalive: KeepaliveSpec | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SetReaderConfigResponse(_StatusMessage):
    TYPE: ClassVar[int] = M.SET_READER_CONFIG_RESPONSE


@dataclass(frozen=True, slots=True, kw_only=True)
class CloseConnectionResponse(_StatusMessage):
    TYPE: ClassVar[int] = M.CLOSE_CONNECTION_RESPONSE


@dataclass(frozen=True, slots=True, kw_only=True)
class AddROSpecResponse(_StatusMessage):
    TYPE: ClassVar[int] = M.ADD_ROSPEC_RESPONSE


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteROSpecResponse(_StatusMessage):
    TYPE: ClassVar[int] = M.DELETE_ROSPEC_RESPONSE


@dataclass(frozen=True, slots=True, kw_only=True)
class StartROSpecResponse(_StatusMessage):
    TYPE: ClassVar[int] = M.START_ROSPEC_RESPONSE


@dataclass(frozen=True, slots=True, kw_only=True)
class StopROSpecResponse(_StatusMessage):
    TYPE: ClassVar[int] = M.STOP_ROSPEC_RESPONSE


@dataclass(frozen=True, slots=True, kw_only=True)
class EnableROSpecResponse(_StatusMessage):
    TYPE: ClassVar[int] = M.ENABLE_ROSPEC_RESPONSE


@dataclass(frozen=True, slots=True, kw_only=True)
class DisableROSpecResponse(_StatusMessage):
    TYPE: ClassVar[int] = M.DISABLE_ROSPEC_RESPONSE


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteAccessSpecResponse(_StatusMessage):
    TYPE: ClassVar[int] = M.DELETE_ACCESSSPEC_RESPONSE


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorMessage(_StatusMessage):
    TYPE: ClassVar[int] = M.ERROR_MESSAGE


@dataclass(frozen=True, slots=True, kw_only=True)
class Keepalive(_Message):
    TYPE: ClassVar[int] = M.KEEPALIVE


@dataclass(frozen=True, slots=True, kw_only=True)
class ROSpecEvent:
    """§16.2.7.6.3: 0 start of ROSpec, 1 end, 2 preempted."""

    event_type: int
    rospec_id: int
    preempting_rospec_id: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ReaderEventNotification(_Message):
    """§16.1.33 / §16.2.7.6; event types other than these are skipped."""

    TYPE: ClassVar[int] = M.READER_EVENT_NOTIFICATION
    timestamp_us: int = 0
    uptime: bool = False  # True: timestamp is an Uptime, not UTCTimestamp
    connection_attempt: int | None = None  # ConnectionAttemptStatus
    connection_close: bool = False
    rospec_event: ROSpecEvent | None = None
    antenna_event: tuple[int, int] | None = None  # (0 disconnected / 1 connected, antenna)


@dataclass(frozen=True, slots=True, kw_only=True)
class ROAccessReport(_Message):
    """§16.1.31; RFSurveyReportData and custom parameters are skipped."""

    TYPE: ClassVar[int] = M.RO_ACCESS_REPORT
    tags: tuple[TagReport, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownMessage(_Message):
    """A message type this codec does not model (incl. CUSTOM_MESSAGE, §16.1.42)."""

    TYPE: ClassVar[int] = -1
    message_type: int
    body: bytes = field(default=b"")


LLRPMessage: TypeAlias = (
    GetReaderCapabilities
    | GetReaderConfig
    | SetReaderConfig
    | EnableEventsAndReports
    | AddROSpec
    | DeleteROSpec
    | StartROSpec
    | StopROSpec
    | EnableROSpec
    | DisableROSpec
    | DeleteAccessSpec
    | KeepaliveAck
    | CloseConnection
    | GetReaderCapabilitiesResponse
    | GetReaderConfigResponse
    | SetReaderConfigResponse
    | CloseConnectionResponse
    | AddROSpecResponse
    | DeleteROSpecResponse
    | StartROSpecResponse
    | StopROSpecResponse
    | EnableROSpecResponse
    | DisableROSpecResponse
    | DeleteAccessSpecResponse
    | ErrorMessage
    | Keepalive
    | ReaderEventNotification
    | ROAccessReport
    | UnknownMessage
)

# ------------------------------------------------------------------ encoding


def _body(msg: LLRPMessage) -> bytes:
    if isinstance(msg, ROAccessReport):
        return b"".join(encode_tag_report(t) for t in msg.tags)
    if isinstance(msg, _StatusMessage):
        return encode_status(msg.status)
    if isinstance(msg, _ROSpecIdMessage):
        return u32(msg.rospec_id)
    if isinstance(msg, GetReaderCapabilities):
        return u8(msg.requested_data)
    if isinstance(msg, GetReaderConfig):
        # §16.1.3 order: AntennaID, RequestedData, GPIPortNum, GPOPortNum.
        return u16(msg.antenna_id) + u8(msg.requested_data) + u16(msg.gpi_port) + u16(msg.gpo_port)
    if isinstance(msg, SetReaderConfig):
        parts = [u8(0x80 if msg.reset_to_factory_defaults else 0)]
        if msg.event_states:
            states = [
                tlv(P.EVENT_NOTIFICATION_STATE, u16(s.event_type), u8(0x80 if s.enabled else 0))
                for s in msg.event_states
            ]
            parts.append(tlv(P.READER_EVENT_NOTIFICATION_SPEC, *states))
        if msg.report_spec is not None:
            parts.append(encode_report_spec(msg.report_spec))
        if msg.keepalive is not None:
            parts.append(encode_keepalive_spec(msg.keepalive))
        return b"".join(parts)
    if isinstance(msg, AddROSpec):
        return encode_rospec(msg.rospec)
    if isinstance(msg, DeleteAccessSpec):
        return u32(msg.access_spec_id)
    if isinstance(msg, GetReaderCapabilitiesResponse):
        body = encode_status(msg.status)
        if msg.capabilities is not None:
            body += encode_capabilities(msg.capabilities)
        return body
    if isinstance(msg, GetReaderConfigResponse):
        body = encode_status(msg.status)
        if msg.reader_id is not None:
            # IDType 0 = MAC address, 1 = EPC (§16.2.6.1); u8v reader ID.
            body += tlv(P.IDENTIFICATION, u8(0), u16(len(msg.reader_id)), msg.reader_id)
        if msg.keepalive is not None:
            body += encode_keepalive_spec(msg.keepalive)
        return body
    if isinstance(msg, ReaderEventNotification):
        ts = P.UPTIME if msg.uptime else P.UTC_TIMESTAMP
        parts = [tlv(ts, u64(msg.timestamp_us))]
        if msg.rospec_event is not None:
            e = msg.rospec_event
            parts.append(
                tlv(P.ROSPEC_EVENT, u8(e.event_type), u32(e.rospec_id), u32(e.preempting_rospec_id))
            )
        if msg.antenna_event is not None:
            parts.append(tlv(P.ANTENNA_EVENT, u8(msg.antenna_event[0]), u16(msg.antenna_event[1])))
        if msg.connection_attempt is not None:
            parts.append(tlv(P.CONNECTION_ATTEMPT_EVENT, u16(msg.connection_attempt)))
        if msg.connection_close:
            parts.append(tlv(P.CONNECTION_CLOSE_EVENT))
        return tlv(P.READER_EVENT_NOTIFICATION_DATA, *parts)
    if isinstance(msg, UnknownMessage):
        return msg.body
    return b""  # messages with an empty body: KEEPALIVE, ACK, CLOSE_CONNECTION, ...


def encode(msg: LLRPMessage) -> bytes:
    """Frame ``msg``: Rsvd(3)=0 Ver(3)=1 Type(10), Length(32), ID(32), body (§4.1)."""
    body = _body(msg)
    mtype = msg.message_type if isinstance(msg, UnknownMessage) else msg.TYPE
    return _HEADER.pack((LLRP_VERSION << 10) | mtype, HEADER_LEN + len(body), msg.message_id) + body


# ------------------------------------------------------------------ decoding


def _status_only(cls: type[_StatusMessage]) -> Callable[[Cursor, int], LLRPMessage]:
    def decode(c: Cursor, mid: int) -> LLRPMessage:
        return cls(message_id=mid, status=find_status(c))  # type: ignore[return-value]

    return decode


def _rospec_id(cls: type[_ROSpecIdMessage]) -> Callable[[Cursor, int], LLRPMessage]:
    def decode(c: Cursor, mid: int) -> LLRPMessage:
        return cls(message_id=mid, rospec_id=c.u32("ROSpecID"))  # type: ignore[return-value]

    return decode


def _empty(cls: type[_Message]) -> Callable[[Cursor, int], LLRPMessage]:
    def decode(c: Cursor, mid: int) -> LLRPMessage:
        return cls(message_id=mid)  # type: ignore[return-value]

    return decode


def _ro_access_report(c: Cursor, mid: int) -> LLRPMessage:
    tags = [decode_tag_report(sub) for ptype, sub in c.params() if ptype == P.TAG_REPORT_DATA]
    return ROAccessReport(message_id=mid, tags=tuple(tags))


def _reader_event(c: Cursor, mid: int) -> LLRPMessage:
    found = False
    kw: dict[str, object] = {}
    for ptype, data in c.params():
        if ptype != P.READER_EVENT_NOTIFICATION_DATA:
            continue
        found = True
        have_ts = False
        for t2, sub in data.params():
            if t2 in (P.UTC_TIMESTAMP, P.UPTIME):
                have_ts = True
                kw["uptime"] = t2 == P.UPTIME
                kw["timestamp_us"] = sub.u64("Microseconds")
            elif t2 == P.CONNECTION_ATTEMPT_EVENT:
                kw["connection_attempt"] = sub.u16("ConnectionAttemptEvent Status")
            elif t2 == P.CONNECTION_CLOSE_EVENT:
                kw["connection_close"] = True
            elif t2 == P.ROSPEC_EVENT:
                kw["rospec_event"] = ROSpecEvent(
                    event_type=sub.u8("EventType"),
                    rospec_id=sub.u32("ROSpecID"),
                    preempting_rospec_id=sub.u32("PreemptingROSpecID"),
                )
            elif t2 == P.ANTENNA_EVENT:
                kw["antenna_event"] = (sub.u8("EventType"), sub.u16("AntennaID"))
        if not have_ts:
            raise RemoteProtocolError(
                f"{data.where}: ReaderEventNotificationData has no UTCTimestamp or Uptime"
            )
    if not found:
        raise RemoteProtocolError(f"{c.where}: ReaderEventNotificationData is missing")
    return ReaderEventNotification(message_id=mid, **kw)  # type: ignore[arg-type]


def _get_caps(c: Cursor, mid: int) -> LLRPMessage:
    return GetReaderCapabilities(message_id=mid, requested_data=c.u8("RequestedData"))


def _get_caps_response(c: Cursor, mid: int) -> LLRPMessage:
    status, caps = decode_capabilities(c)
    return GetReaderCapabilitiesResponse(message_id=mid, status=status, capabilities=caps)


def _get_config(c: Cursor, mid: int) -> LLRPMessage:
    return GetReaderConfig(
        message_id=mid,
        antenna_id=c.u16("AntennaID"),
        requested_data=c.u8("RequestedData"),
        gpi_port=c.u16("GPIPortNum"),
        gpo_port=c.u16("GPOPortNum"),
    )


def _get_config_response(c: Cursor, mid: int) -> LLRPMessage:
    status: LLRPStatus | None = None
    reader_id: bytes | None = None
    keepalive: KeepaliveSpec | None = None
    for ptype, sub in c.params():
        if ptype == P.LLRP_STATUS:
            status = decode_status(sub)
        elif ptype == P.IDENTIFICATION:
            sub.u8("IDType")
            reader_id = sub.raw(sub.u16("ReaderID length"), "ReaderID")
        elif ptype == P.KEEPALIVE_SPEC:
            keepalive = decode_keepalive_spec(sub)
    if status is None:
        raise RemoteProtocolError(f"{c.where}: required LLRPStatus parameter is missing")
    return GetReaderConfigResponse(
        message_id=mid, status=status, reader_id=reader_id, keepalive=keepalive
    )


def _set_config(c: Cursor, mid: int) -> LLRPMessage:
    reset = bool(c.u8("ResetToFactoryDefault") & 0x80)
    states: list[EventNotificationState] = []
    report: ROReportSpec | None = None
    keepalive: KeepaliveSpec | None = None
    for ptype, sub in c.params():
        if ptype == P.READER_EVENT_NOTIFICATION_SPEC:
            for t2, s2 in sub.params():
                if t2 == P.EVENT_NOTIFICATION_STATE:
                    ev = s2.u16("EventType")
                    states.append(
                        EventNotificationState(ev, bool(s2.u8("NotificationState") & 0x80))
                    )
        elif ptype == P.RO_REPORT_SPEC:
            report = decode_report_spec(sub)
        elif ptype == P.KEEPALIVE_SPEC:
            keepalive = decode_keepalive_spec(sub)
    return SetReaderConfig(
        message_id=mid,
        reset_to_factory_defaults=reset,
        event_states=tuple(states),
        report_spec=report,
        keepalive=keepalive,
    )


def _add_rospec(c: Cursor, mid: int) -> LLRPMessage:
    for ptype, sub in c.params():
        if ptype == P.ROSPEC:
            return AddROSpec(message_id=mid, rospec=decode_rospec(sub))
    raise RemoteProtocolError(f"{c.where}: ADD_ROSPEC carries no ROSpec parameter")


def _delete_accessspec(c: Cursor, mid: int) -> LLRPMessage:
    return DeleteAccessSpec(message_id=mid, access_spec_id=c.u32("AccessSpecID"))


BODY_DECODERS: dict[int, Callable[[Cursor, int], LLRPMessage]] = {
    M.GET_READER_CAPABILITIES: _get_caps,
    M.GET_READER_CAPABILITIES_RESPONSE: _get_caps_response,
    M.GET_READER_CONFIG: _get_config,
    M.GET_READER_CONFIG_RESPONSE: _get_config_response,
    M.SET_READER_CONFIG: _set_config,
    M.SET_READER_CONFIG_RESPONSE: _status_only(SetReaderConfigResponse),
    M.ENABLE_EVENTS_AND_REPORTS: _empty(EnableEventsAndReports),
    M.ADD_ROSPEC: _add_rospec,
    M.ADD_ROSPEC_RESPONSE: _status_only(AddROSpecResponse),
    M.DELETE_ROSPEC: _rospec_id(DeleteROSpec),
    M.DELETE_ROSPEC_RESPONSE: _status_only(DeleteROSpecResponse),
    M.START_ROSPEC: _rospec_id(StartROSpec),
    M.START_ROSPEC_RESPONSE: _status_only(StartROSpecResponse),
    M.STOP_ROSPEC: _rospec_id(StopROSpec),
    M.STOP_ROSPEC_RESPONSE: _status_only(StopROSpecResponse),
    M.ENABLE_ROSPEC: _rospec_id(EnableROSpec),
    M.ENABLE_ROSPEC_RESPONSE: _status_only(EnableROSpecResponse),
    M.DISABLE_ROSPEC: _rospec_id(DisableROSpec),
    M.DISABLE_ROSPEC_RESPONSE: _status_only(DisableROSpecResponse),
    M.DELETE_ACCESSSPEC: _delete_accessspec,
    M.DELETE_ACCESSSPEC_RESPONSE: _status_only(DeleteAccessSpecResponse),
    M.RO_ACCESS_REPORT: _ro_access_report,
    M.KEEPALIVE: _empty(Keepalive),
    M.KEEPALIVE_ACK: _empty(KeepaliveAck),
    M.READER_EVENT_NOTIFICATION: _reader_event,
    M.CLOSE_CONNECTION: _empty(CloseConnection),
    M.CLOSE_CONNECTION_RESPONSE: _status_only(CloseConnectionResponse),
    M.ERROR_MESSAGE: _status_only(ErrorMessage),
}


def decode_body(mtype: int, message_id: int, data: bytes, start: int, end: int) -> LLRPMessage:
    """Decode one message body ``data[start:end]`` of type ``mtype``."""
    decoder = BODY_DECODERS.get(mtype)
    if decoder is None:
        return UnknownMessage(message_id=message_id, message_type=mtype, body=data[start:end])
    try:
        name = MessageType(mtype).name
    except ValueError:  # pragma: no cover - every decoder key is a MessageType
        name = str(mtype)
    return decoder(Cursor(data, start, end, name), message_id)
