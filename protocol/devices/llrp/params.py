"""Typed LLRP parameters an inventory needs, with their encoders and decoders.

Decoders take a :class:`Cursor` over the parameter body; sub-parameters the
reader or client does not need (and custom type 1023) are skipped by their
TLV length, as LLRP 1.0.1 §4.1.3 allows.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.devices.llrp.constants import (
    TV,
    AIStopTrigger,
    KeepaliveTrigger,
    ParamType,
    ReportTrigger,
    StartTrigger,
    StatusCode,
    StopTrigger,
)
from protocol.devices.llrp.wire import (
    Cursor,
    s16,
    tlv,
    tv,
    u8,
    u16,
    u32,
    u32v,
    u64,
    utf8v,
)
from protocol.errors import RemoteProtocolError

P = ParamType


def _missing(where: str, what: str) -> RemoteProtocolError:
    return RemoteProtocolError(f"{where}: required {what} parameter is missing")


# ---------------------------------------------------------------- LLRPStatus


@dataclass(frozen=True, slots=True)
class LLRPStatus:
    """§16.2.8.1: StatusCode and an ErrorDescription (FieldError etc. skipped)."""

    code: int = StatusCode.M_SUCCESS
    description: str = ""

    @property
    def ok(self) -> bool:
        return self.code == StatusCode.M_SUCCESS


#: The status every successful response carries.
SUCCESS = LLRPStatus()


def encode_status(s: LLRPStatus) -> bytes:
    return tlv(P.LLRP_STATUS, u16(s.code), utf8v(s.description))


def decode_status(c: Cursor) -> LLRPStatus:
    code = c.u16("StatusCode")
    return LLRPStatus(code, c.utf8v("ErrorDescription"))


def find_status(c: Cursor) -> LLRPStatus:
    status: LLRPStatus | None = None
    for ptype, sub in c.params():
        if ptype == P.LLRP_STATUS:
            status = decode_status(sub)
    if status is None:
        raise _missing(c.where, "LLRPStatus")
    return status


# ------------------------------------------------------------ TagReportData


@dataclass(frozen=True, slots=True, kw_only=True)
class TagReport:
    """One TagReportData (§16.2.7.3). ``None`` fields were not reported."""

    epc: bytes
    rospec_id: int | None = None
    spec_index: int | None = None
    inventory_parameter_spec_id: int | None = None
    antenna_id: int | None = None
    peak_rssi: int | None = None
    channel_index: int | None = None
    first_seen_utc_us: int | None = None
    first_seen_uptime_us: int | None = None
    last_seen_utc_us: int | None = None
    last_seen_uptime_us: int | None = None
    tag_seen_count: int | None = None
    c1g2_crc: int | None = None
    c1g2_pc: int | None = None
    access_spec_id: int | None = None


def encode_tag_report(t: TagReport) -> bytes:
    # Field order follows §16.2.7.3; EPC-96 (TV 13) is the compact form for
    # 96-bit EPCs, EPCData (TLV 241) carries any other length.
    if len(t.epc) == 12:
        parts = [tv(TV.EPC_96, t.epc)]
    else:
        parts = [tlv(P.EPC_DATA, u16(len(t.epc) * 8), t.epc)]
    if t.rospec_id is not None:
        parts.append(tv(TV.ROSPEC_ID, u32(t.rospec_id)))
    if t.spec_index is not None:
        parts.append(tv(TV.SPEC_INDEX, u16(t.spec_index)))
    if t.inventory_parameter_spec_id is not None:
        parts.append(tv(TV.INVENTORY_PARAMETER_SPEC_ID, u16(t.inventory_parameter_spec_id)))
    if t.antenna_id is not None:
        parts.append(tv(TV.ANTENNA_ID, u16(t.antenna_id)))
    if t.peak_rssi is not None:
        parts.append(tv(TV.PEAK_RSSI, u8(t.peak_rssi)))
    if t.channel_index is not None:
        parts.append(tv(TV.CHANNEL_INDEX, u16(t.channel_index)))
    if t.first_seen_utc_us is not None:
        parts.append(tv(TV.FIRST_SEEN_UTC, u64(t.first_seen_utc_us)))
    if t.first_seen_uptime_us is not None:
        parts.append(tv(TV.FIRST_SEEN_UPTIME, u64(t.first_seen_uptime_us)))
    if t.last_seen_utc_us is not None:
        parts.append(tv(TV.LAST_SEEN_UTC, u64(t.last_seen_utc_us)))
    if t.last_seen_uptime_us is not None:
        parts.append(tv(TV.LAST_SEEN_UPTIME, u64(t.last_seen_uptime_us)))
    if t.tag_seen_count is not None:
        parts.append(tv(TV.TAG_SEEN_COUNT, u16(t.tag_seen_count)))
    if t.c1g2_crc is not None:
        parts.append(tv(TV.C1G2_CRC, u16(t.c1g2_crc)))
    if t.c1g2_pc is not None:
        parts.append(tv(TV.C1G2_PC, u16(t.c1g2_pc)))
    if t.access_spec_id is not None:
        parts.append(tv(TV.ACCESS_SPEC_ID, u32(t.access_spec_id)))
    return tlv(P.TAG_REPORT_DATA, *parts)


def decode_tag_report(c: Cursor) -> TagReport:
    f: dict[str, int] = {}
    epc: bytes | None = None
    for ptype, sub in c.params():
        if ptype == TV.EPC_96:
            epc = sub.raw(12, "EPC-96")
        elif ptype == P.EPC_DATA:
            bits = sub.u16("EPCLengthBits")
            epc = sub.raw((bits + 7) // 8, "EPC")
        elif ptype == TV.ANTENNA_ID:
            f["antenna_id"] = sub.u16("AntennaID")
        elif ptype == TV.PEAK_RSSI:
            f["peak_rssi"] = sub.s8("PeakRSSI")
        elif ptype == TV.FIRST_SEEN_UTC:
            f["first_seen_utc_us"] = sub.u64("FirstSeenTimestampUTC")
        elif ptype == TV.LAST_SEEN_UTC:
            f["last_seen_utc_us"] = sub.u64("LastSeenTimestampUTC")
        elif ptype == TV.TAG_SEEN_COUNT:
            f["tag_seen_count"] = sub.u16("TagSeenCount")
        elif ptype == TV.ROSPEC_ID:
            f["rospec_id"] = sub.u32("ROSpecID")
        elif ptype == TV.SPEC_INDEX:
            f["spec_index"] = sub.u16("SpecIndex")
        elif ptype == TV.INVENTORY_PARAMETER_SPEC_ID:
            f["inventory_parameter_spec_id"] = sub.u16("InventoryParameterSpecID")
        elif ptype == TV.CHANNEL_INDEX:
            f["channel_index"] = sub.u16("ChannelIndex")
        elif ptype == TV.FIRST_SEEN_UPTIME:
            f["first_seen_uptime_us"] = sub.u64("FirstSeenTimestampUptime")
        elif ptype == TV.LAST_SEEN_UPTIME:
            f["last_seen_uptime_us"] = sub.u64("LastSeenTimestampUptime")
        elif ptype == TV.C1G2_CRC:
            f["c1g2_crc"] = sub.u16("C1G2CRC")
        elif ptype == TV.C1G2_PC:
            f["c1g2_pc"] = sub.u16("C1G2PC")
        elif ptype == TV.ACCESS_SPEC_ID:
            f["access_spec_id"] = sub.u32("AccessSpecID")
    if epc is None:
        raise _missing(c.where, "EPCData or EPC-96")
    return TagReport(epc=epc, **f)


# ------------------------------------------------------------------- ROSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class TagReportContentSelector:
    """Which optional TagReportData fields the client wants (§16.2.7.1)."""

    rospec_id: bool = False
    spec_index: bool = False
    inventory_parameter_spec_id: bool = False
    antenna_id: bool = False
    channel_index: bool = False
    peak_rssi: bool = False
    first_seen: bool = False
    last_seen: bool = False
    tag_seen_count: bool = False
    access_spec_id: bool = False
    c1g2_crc: bool = False
    c1g2_pc: bool = False


_SELECTOR_BITS = (
    "rospec_id",
    "spec_index",
    "inventory_parameter_spec_id",
    "antenna_id",
    "channel_index",
    "peak_rssi",
    "first_seen",
    "last_seen",
    "tag_seen_count",
    "access_spec_id",
)


def encode_selector(s: TagReportContentSelector) -> bytes:
    flags = 0
    for i, name in enumerate(_SELECTOR_BITS):
        if getattr(s, name):
            flags |= 1 << (15 - i)
    mem = (0x80 if s.c1g2_crc else 0) | (0x40 if s.c1g2_pc else 0)
    return tlv(P.TAG_REPORT_CONTENT_SELECTOR, u16(flags), tlv(P.C1G2_EPC_MEMORY_SELECTOR, u8(mem)))


def decode_selector(c: Cursor) -> TagReportContentSelector:
    flags = c.u16("TagReportContentSelector flags")
    kw = {name: bool(flags & (1 << (15 - i))) for i, name in enumerate(_SELECTOR_BITS)}
    crc = pc = False
    for ptype, sub in c.params():
        if ptype == P.C1G2_EPC_MEMORY_SELECTOR:
            mem = sub.u8("C1G2EPCMemorySelector")
            crc, pc = bool(mem & 0x80), bool(mem & 0x40)
    return TagReportContentSelector(c1g2_crc=crc, c1g2_pc=pc, **kw)


@dataclass(frozen=True, slots=True, kw_only=True)
class ROReportSpec:
    """§16.2.7.1: when to send RO_ACCESS_REPORT and what goes in it. N=0 means unlimited."""

    trigger: int = ReportTrigger.N_TAGS_OR_END_OF_AISPEC
    n: int = 0
    content: TagReportContentSelector = TagReportContentSelector()


def encode_report_spec(r: ROReportSpec) -> bytes:
    return tlv(P.RO_REPORT_SPEC, u8(r.trigger), u16(r.n), encode_selector(r.content))


def decode_report_spec(c: Cursor) -> ROReportSpec:
    trigger = c.u8("ROReportTrigger")
    n = c.u16("N")
    content: TagReportContentSelector | None = None
    for ptype, sub in c.params():
        if ptype == P.TAG_REPORT_CONTENT_SELECTOR:
            content = decode_selector(sub)
    if content is None:
        raise _missing(c.where, "TagReportContentSelector")
    return ROReportSpec(trigger=trigger, n=n, content=content)


@dataclass(frozen=True, slots=True, kw_only=True)
class TagObservationTrigger:
    """§16.2.4.2.1.1: end the AISpec after N tags, silence, attempts... or a timeout (ms)."""

    trigger: int = 0
    number_of_tags: int = 0
    number_of_attempts: int = 0
    t_ms: int = 0
    timeout_ms: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class AISpec:
    """§16.2.4.2: which antennas inventory and when the AISpec ends.

    InventoryParameterSpec bodies (antenna power, C1G2 settings) are skipped;
    only their IDs are kept.
    """

    antenna_ids: tuple[int, ...] = (1,)
    stop_trigger: int = AIStopTrigger.NULL
    stop_duration_ms: int = 0
    tag_observation: TagObservationTrigger | None = None
    inventory_parameter_spec_ids: tuple[int, ...] = (1,)


def encode_aispec(a: AISpec) -> bytes:
    stop = [u8(a.stop_trigger), u32(a.stop_duration_ms)]
    if a.tag_observation is not None:
        t = a.tag_observation
        stop.append(
            tlv(
                P.TAG_OBSERVATION_TRIGGER,
                u8(t.trigger),
                u8(0),
                u16(t.number_of_tags),
                u16(t.number_of_attempts),
                u16(t.t_ms),
                u32(t.timeout_ms),
            )
        )
    ips = [tlv(P.INVENTORY_PARAMETER_SPEC, u16(i), u8(1)) for i in a.inventory_parameter_spec_ids]
    ants = u16(len(a.antenna_ids)) + b"".join(u16(x) for x in a.antenna_ids)
    return tlv(P.AISPEC, ants, tlv(P.AISPEC_STOP_TRIGGER, *stop), *ips)


def decode_aispec(c: Cursor) -> AISpec:
    count = c.u16("AntennaCount")
    ants = tuple(c.u16("AntennaID") for _ in range(count))
    stop_type: int | None = None
    duration = 0
    obs: TagObservationTrigger | None = None
    ips: list[int] = []
    for ptype, sub in c.params():
        if ptype == P.AISPEC_STOP_TRIGGER:
            stop_type = sub.u8("AISpecStopTriggerType")
            duration = sub.u32("DurationTrigger")
            for t2, sub2 in sub.params():
                if t2 == P.TAG_OBSERVATION_TRIGGER:
                    trig = sub2.u8("TriggerType")
                    sub2.u8("reserved")
                    obs = TagObservationTrigger(
                        trigger=trig,
                        number_of_tags=sub2.u16("NumberOfTags"),
                        number_of_attempts=sub2.u16("NumberOfAttempts"),
                        t_ms=sub2.u16("T"),
                        timeout_ms=sub2.u32("Timeout"),
                    )
        elif ptype == P.INVENTORY_PARAMETER_SPEC:
            ips.append(sub.u16("InventoryParameterSpecID"))
    if stop_type is None:
        raise _missing(c.where, "AISpecStopTrigger")
    return AISpec(
        antenna_ids=ants,
        stop_trigger=stop_type,
        stop_duration_ms=duration,
        tag_observation=obs,
        inventory_parameter_spec_ids=tuple(ips),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ROSpec:
    """§16.2.4.1: a reader operation; RFSurveySpec / LoopSpec / custom specs are skipped."""

    rospec_id: int
    priority: int = 0
    current_state: int = 0
    start_trigger: int = StartTrigger.IMMEDIATE
    period_offset_ms: int = 0
    period_ms: int = 0
    stop_trigger: int = StopTrigger.NULL
    stop_duration_ms: int = 0
    ai_specs: tuple[AISpec, ...] = (AISpec(),)
    report_spec: ROReportSpec | None = None


def encode_rospec(r: ROSpec) -> bytes:
    start = [u8(r.start_trigger)]
    if r.start_trigger == StartTrigger.PERIODIC:
        start.append(tlv(P.PERIODIC_TRIGGER_VALUE, u32(r.period_offset_ms), u32(r.period_ms)))
    boundary = tlv(
        P.RO_BOUNDARY_SPEC,
        tlv(P.ROSPEC_START_TRIGGER, *start),
        tlv(P.ROSPEC_STOP_TRIGGER, u8(r.stop_trigger), u32(r.stop_duration_ms)),
    )
    parts = [u32(r.rospec_id), u8(r.priority), u8(r.current_state), boundary]
    parts.extend(encode_aispec(a) for a in r.ai_specs)
    if r.report_spec is not None:
        parts.append(encode_report_spec(r.report_spec))
    return tlv(P.ROSPEC, *parts)


def decode_rospec(c: Cursor) -> ROSpec:
    rospec_id = c.u32("ROSpecID")
    priority = c.u8("Priority")
    state = c.u8("CurrentState")
    start: int | None = None
    stop: int | None = None
    offset = period = duration = 0
    ais: list[AISpec] = []
    report: ROReportSpec | None = None
    for ptype, sub in c.params():
        if ptype == P.RO_BOUNDARY_SPEC:
            for t2, sub2 in sub.params():
                if t2 == P.ROSPEC_START_TRIGGER:
                    start = sub2.u8("ROSpecStartTriggerType")
                    for t3, sub3 in sub2.params():
                        if t3 == P.PERIODIC_TRIGGER_VALUE:
                            offset = sub3.u32("Offset")
                            period = sub3.u32("Period")
                elif t2 == P.ROSPEC_STOP_TRIGGER:
                    stop = sub2.u8("ROSpecStopTriggerType")
                    duration = sub2.u32("DurationTriggerValue")
        elif ptype == P.AISPEC:
            ais.append(decode_aispec(sub))
        elif ptype == P.RO_REPORT_SPEC:
            report = decode_report_spec(sub)
    if start is None or stop is None:
        raise _missing(c.where, "ROBoundarySpec start/stop trigger")
    return ROSpec(
        rospec_id=rospec_id,
        priority=priority,
        current_state=state,
        start_trigger=start,
        period_offset_ms=offset,
        period_ms=period,
        stop_trigger=stop,
        stop_duration_ms=duration,
        ai_specs=tuple(ais),
        report_spec=report,
    )


# ------------------------------------------------------------ configuration


@dataclass(frozen=True, slots=True)
class KeepaliveSpec:
    """§16.2.6.4: periodic KEEPALIVE from reader to client, interval in ms."""

    trigger: int = KeepaliveTrigger.NULL
    interval_ms: int = 0


def encode_keepalive_spec(k: KeepaliveSpec) -> bytes:
    return tlv(P.KEEPALIVE_SPEC, u8(k.trigger), u32(k.interval_ms))


def decode_keepalive_spec(c: Cursor) -> KeepaliveSpec:
    trigger = c.u8("KeepaliveTriggerType")
    return KeepaliveSpec(trigger, c.u32("PeriodicTriggerValue"))


@dataclass(frozen=True, slots=True)
class EventNotificationState:
    """§16.2.6.2: turn one reader event type on or off."""

    event_type: int
    enabled: bool


# ------------------------------------------------------------- capabilities


@dataclass(frozen=True, slots=True, kw_only=True)
class RFMode:
    """C1G2UHFRFModeTableEntry (§15.2.1.1.2.1)."""

    mode_id: int
    dr_64_3: bool = True
    epc_hag_conformance: bool = False
    m: int = 1
    forward_link_modulation: int = 0
    spectral_mask: int = 0
    bdr: int = 640000
    pie: int = 1500
    min_tari: int = 6250
    max_tari: int = 6250
    step_tari: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class LLRPCapabilities:
    """LLRPCapabilities (§16.2.3.3)."""

    can_do_rf_survey: bool = False
    can_report_buffer_fill_warning: bool = False
    supports_client_request_op_spec: bool = False
    can_do_state_aware_singulation: bool = False
    supports_event_and_report_holding: bool = False
    max_priority_levels: int = 1
    client_request_op_spec_timeout: int = 0
    max_rospecs: int = 1
    max_specs_per_rospec: int = 1
    max_inventory_parameter_specs_per_aispec: int = 1
    max_accessspecs: int = 0
    max_opspecs_per_accessspec: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ReaderCapabilities:
    """What GET_READER_CAPABILITIES_RESPONSE says about the reader (§16.1.2, §16.2.3).

    Transmit power values are hundredths of dBm (§16.2.3.4.1.1).
    """

    max_antennas: int
    can_set_antenna_properties: bool = False
    has_utc_clock: bool = True
    manufacturer: int = 0
    model: int = 0
    firmware: str = ""
    receive_sensitivities: tuple[tuple[int, int], ...] = ((1, 0),)
    gpis: int = 0
    gpos: int = 0
    llrp: LLRPCapabilities = LLRPCapabilities()
    country_code: int = 0
    communications_standard: int = 0
    tx_power_table: tuple[tuple[int, int], ...] = ((1, 3000),)
    hopping: bool = False
    hop_tables: tuple[tuple[int, tuple[int, ...]], ...] = ()
    fixed_frequencies: tuple[int, ...] = ()
    rf_modes: tuple[RFMode, ...] = (RFMode(mode_id=0),)
    c1g2_block_erase: bool = False
    c1g2_block_write: bool = False
    max_select_filters: int = 0


def _flag(b: bool, bit: int) -> int:
    return (1 << bit) if b else 0


def encode_capabilities(cap: ReaderCapabilities) -> bytes:
    gdc_parts = [
        u16(cap.max_antennas),
        u16(_flag(cap.can_set_antenna_properties, 15) | _flag(cap.has_utc_clock, 14)),
        u32(cap.manufacturer),
        u32(cap.model),
        utf8v(cap.firmware),
    ]
    gdc_parts += [
        tlv(P.RECEIVE_SENSITIVITY_TABLE_ENTRY, u16(i), s16(v)) for i, v in cap.receive_sensitivities
    ]
    gdc_parts.append(tlv(P.GPIO_CAPABILITIES, u16(cap.gpis), u16(cap.gpos)))
    # One PerAntennaAirProtocol per antenna, all EPC C1G2 (§16.2.3.2.2).
    gdc_parts += [
        tlv(P.PER_ANTENNA_AIR_PROTOCOL, u16(a), u16(1), u8(1))
        for a in range(1, cap.max_antennas + 1)
    ]
    lc = cap.llrp
    llrp = tlv(
        P.LLRP_CAPABILITIES,
        u8(
            _flag(lc.can_do_rf_survey, 7)
            | _flag(lc.can_report_buffer_fill_warning, 6)
            | _flag(lc.supports_client_request_op_spec, 5)
            | _flag(lc.can_do_state_aware_singulation, 4)
            | _flag(lc.supports_event_and_report_holding, 3)
        ),
        u8(lc.max_priority_levels),
        u16(lc.client_request_op_spec_timeout),
        u32(lc.max_rospecs),
        u32(lc.max_specs_per_rospec),
        u32(lc.max_inventory_parameter_specs_per_aispec),
        u32(lc.max_accessspecs),
        u32(lc.max_opspecs_per_accessspec),
    )
    band: list[bytes] = [
        tlv(P.TRANSMIT_POWER_LEVEL_TABLE_ENTRY, u16(i), s16(v)) for i, v in cap.tx_power_table
    ]
    freq: list[bytes] = [u8(0x80 if cap.hopping else 0)]
    freq += [tlv(P.FREQUENCY_HOP_TABLE, u8(i), u8(0), u32v(f)) for i, f in cap.hop_tables]
    if cap.fixed_frequencies:
        freq.append(tlv(P.FIXED_FREQUENCY_TABLE, u32v(cap.fixed_frequencies)))
    band.append(tlv(P.FREQUENCY_INFORMATION, *freq))
    modes = [
        tlv(
            P.C1G2_UHF_RF_MODE_TABLE_ENTRY,
            u32(m.mode_id),
            u8(_flag(m.dr_64_3, 7) | _flag(m.epc_hag_conformance, 6)),
            u8(m.m),
            u8(m.forward_link_modulation),
            u8(m.spectral_mask),
            u32(m.bdr),
            u32(m.pie),
            u32(m.min_tari),
            u32(m.max_tari),
            u32(m.step_tari),
        )
        for m in cap.rf_modes
    ]
    band.append(tlv(P.C1G2_UHF_RF_MODE_TABLE, *modes))
    regulatory = tlv(
        P.REGULATORY_CAPABILITIES,
        u16(cap.country_code),
        u16(cap.communications_standard),
        tlv(P.UHF_BAND_CAPABILITIES, *band),
    )
    c1g2 = tlv(
        P.C1G2_LLRP_CAPABILITIES,
        u8(_flag(cap.c1g2_block_erase, 7) | _flag(cap.c1g2_block_write, 6)),
        u16(cap.max_select_filters),
    )
    return tlv(P.GENERAL_DEVICE_CAPABILITIES, *gdc_parts) + llrp + regulatory + c1g2


def _decode_band(c: Cursor, kw: dict[str, object]) -> None:
    powers: list[tuple[int, int]] = []
    modes: list[RFMode] = []
    for ptype, sub in c.params():
        if ptype == P.TRANSMIT_POWER_LEVEL_TABLE_ENTRY:
            powers.append((sub.u16("Index"), sub.s16("TransmitPowerValue")))
        elif ptype == P.FREQUENCY_INFORMATION:
            kw["hopping"] = bool(sub.u8("Hopping") & 0x80)
            hops: list[tuple[int, tuple[int, ...]]] = []
            for t2, sub2 in sub.params():
                if t2 == P.FREQUENCY_HOP_TABLE:
                    hop_id = sub2.u8("HopTableID")
                    sub2.u8("reserved")
                    hops.append((hop_id, sub2.u32v("Frequency")))
                elif t2 == P.FIXED_FREQUENCY_TABLE:
                    kw["fixed_frequencies"] = sub2.u32v("Frequency")
            kw["hop_tables"] = tuple(hops)
        elif ptype == P.C1G2_UHF_RF_MODE_TABLE:
            for t2, e in sub.params():
                if t2 != P.C1G2_UHF_RF_MODE_TABLE_ENTRY:
                    continue
                mode_id = e.u32("ModeIdentifier")
                flags = e.u8("DR flags")
                modes.append(
                    RFMode(
                        mode_id=mode_id,
                        dr_64_3=bool(flags & 0x80),
                        epc_hag_conformance=bool(flags & 0x40),
                        m=e.u8("M"),
                        forward_link_modulation=e.u8("ForwardLinkModulation"),
                        spectral_mask=e.u8("SpectralMaskIndicator"),
                        bdr=e.u32("BDR"),
                        pie=e.u32("PIE"),
                        min_tari=e.u32("MinTari"),
                        max_tari=e.u32("MaxTari"),
                        step_tari=e.u32("StepTari"),
                    )
                )
    kw["tx_power_table"] = tuple(powers)
    kw["rf_modes"] = tuple(modes)


def decode_capabilities(c: Cursor) -> tuple[LLRPStatus, ReaderCapabilities | None]:
    """Decode the parameter list of GET_READER_CAPABILITIES_RESPONSE."""
    status: LLRPStatus | None = None
    kw: dict[str, object] = {}
    have_gdc = False
    for ptype, sub in c.params():
        if ptype == P.LLRP_STATUS:
            status = decode_status(sub)
        elif ptype == P.GENERAL_DEVICE_CAPABILITIES:
            have_gdc = True
            kw["max_antennas"] = sub.u16("MaxNumberOfAntennaSupported")
            flags = sub.u16("GeneralDeviceCapabilities flags")
            kw["can_set_antenna_properties"] = bool(flags & 0x8000)
            kw["has_utc_clock"] = bool(flags & 0x4000)
            kw["manufacturer"] = sub.u32("DeviceManufacturerName")
            kw["model"] = sub.u32("ModelName")
            kw["firmware"] = sub.utf8v("ReaderFirmwareVersion")
            sens: list[tuple[int, int]] = []
            for t2, sub2 in sub.params():
                if t2 == P.RECEIVE_SENSITIVITY_TABLE_ENTRY:
                    sens.append((sub2.u16("Index"), sub2.s16("ReceiveSensitivityValue")))
                elif t2 == P.GPIO_CAPABILITIES:
                    kw["gpis"] = sub2.u16("NumGPIs")
                    kw["gpos"] = sub2.u16("NumGPOs")
            kw["receive_sensitivities"] = tuple(sens)
        elif ptype == P.LLRP_CAPABILITIES:
            flags = sub.u8("LLRPCapabilities flags")
            kw["llrp"] = LLRPCapabilities(
                can_do_rf_survey=bool(flags & 0x80),
                can_report_buffer_fill_warning=bool(flags & 0x40),
                supports_client_request_op_spec=bool(flags & 0x20),
                can_do_state_aware_singulation=bool(flags & 0x10),
                supports_event_and_report_holding=bool(flags & 0x08),
                max_priority_levels=sub.u8("MaxNumPriorityLevelsSupported"),
                client_request_op_spec_timeout=sub.u16("ClientRequestOpSpecTimeout"),
                max_rospecs=sub.u32("MaxNumROSpecs"),
                max_specs_per_rospec=sub.u32("MaxNumSpecsPerROSpec"),
                max_inventory_parameter_specs_per_aispec=sub.u32("MaxNumInventoryParameterSpecs"),
                max_accessspecs=sub.u32("MaxNumAccessSpecs"),
                max_opspecs_per_accessspec=sub.u32("MaxNumOpSpecsPerAccessSpec"),
            )
        elif ptype == P.REGULATORY_CAPABILITIES:
            kw["country_code"] = sub.u16("CountryCode")
            kw["communications_standard"] = sub.u16("CommunicationsStandard")
            for t2, sub2 in sub.params():
                if t2 == P.UHF_BAND_CAPABILITIES:
                    _decode_band(sub2, kw)
        elif ptype == P.C1G2_LLRP_CAPABILITIES:
            flags = sub.u8("C1G2LLRPCapabilities flags")
            kw["c1g2_block_erase"] = bool(flags & 0x80)
            kw["c1g2_block_write"] = bool(flags & 0x40)
            kw["max_select_filters"] = sub.u16("MaxNumSelectFiltersPerQuery")
    if status is None:
        raise _missing(c.where, "LLRPStatus")
    if not have_gdc:
        return status, None
    return status, ReaderCapabilities(**kw)  # type: ignore[arg-type]
