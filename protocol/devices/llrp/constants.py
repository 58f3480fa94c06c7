"""Numbers from EPCglobal LLRP 1.0.1 (2007-08-13): message and parameter types, status codes.

Section numbers refer to that standard. Only the values a reader and an
inventory client need are named; anything else is skipped by length (§4.1).
"""

from __future__ import annotations

import enum
from typing import Final

#: LLRP protocol version carried in the 3-bit Ver field (§4.1: "1" for LLRP 1.0.x).
LLRP_VERSION: Final = 1
#: IANA-assigned TCP port for LLRP (§18.1).
LLRP_PORT: Final = 5084
#: Message header: Rsvd(3) Ver(3) Type(10), Length(32), ID(32) (§4.1).
HEADER_LEN: Final = 10
#: The standard caps nothing; a reader report over 1 MiB means a lying length field.
MAX_MESSAGE_LEN: Final = 1 << 20
#: Vendor-extension parameter / message type (§4.1.3, §16.2.1.5).
TYPE_CUSTOM: Final = 1023


class MessageType(enum.IntEnum):
    """Message types (§16.1)."""

    GET_READER_CAPABILITIES = 1
    GET_READER_CONFIG = 2
    SET_READER_CONFIG = 3
    CLOSE_CONNECTION_RESPONSE = 4
    GET_READER_CAPABILITIES_RESPONSE = 11
    GET_READER_CONFIG_RESPONSE = 12
    SET_READER_CONFIG_RESPONSE = 13
    CLOSE_CONNECTION = 14
    ADD_ROSPEC = 20
    DELETE_ROSPEC = 21
    START_ROSPEC = 22
    STOP_ROSPEC = 23
    ENABLE_ROSPEC = 24
    DISABLE_ROSPEC = 25
    GET_ROSPECS = 26
    ADD_ROSPEC_RESPONSE = 30
    DELETE_ROSPEC_RESPONSE = 31
    START_ROSPEC_RESPONSE = 32
    STOP_ROSPEC_RESPONSE = 33
    ENABLE_ROSPEC_RESPONSE = 34
    DISABLE_ROSPEC_RESPONSE = 35
    GET_ROSPECS_RESPONSE = 36
    ADD_ACCESSSPEC = 40
    DELETE_ACCESSSPEC = 41
    ENABLE_ACCESSSPEC = 42
    DISABLE_ACCESSSPEC = 43
    GET_ACCESSSPECS = 44
    ADD_ACCESSSPEC_RESPONSE = 50
    DELETE_ACCESSSPEC_RESPONSE = 51
    ENABLE_ACCESSSPEC_RESPONSE = 52
    DISABLE_ACCESSSPEC_RESPONSE = 53
    GET_ACCESSSPECS_RESPONSE = 54
    GET_REPORT = 60
    RO_ACCESS_REPORT = 61
    KEEPALIVE = 62
    READER_EVENT_NOTIFICATION = 63
    ENABLE_EVENTS_AND_REPORTS = 64
    KEEPALIVE_ACK = 72
    ERROR_MESSAGE = 100
    CUSTOM_MESSAGE = 1023


class ParamType(enum.IntEnum):
    """TLV parameter types (§16.2). TV types are in :data:`TV_SIZES`."""

    UTC_TIMESTAMP = 128
    UPTIME = 129
    GENERAL_DEVICE_CAPABILITIES = 137
    RECEIVE_SENSITIVITY_TABLE_ENTRY = 139
    PER_ANTENNA_AIR_PROTOCOL = 140
    GPIO_CAPABILITIES = 141
    LLRP_CAPABILITIES = 142
    REGULATORY_CAPABILITIES = 143
    UHF_BAND_CAPABILITIES = 144
    TRANSMIT_POWER_LEVEL_TABLE_ENTRY = 145
    FREQUENCY_INFORMATION = 146
    FREQUENCY_HOP_TABLE = 147
    FIXED_FREQUENCY_TABLE = 148
    PER_ANTENNA_RECEIVE_SENSITIVITY_RANGE = 149
    ROSPEC = 177
    RO_BOUNDARY_SPEC = 178
    ROSPEC_START_TRIGGER = 179
    PERIODIC_TRIGGER_VALUE = 180
    GPI_TRIGGER_VALUE = 181
    ROSPEC_STOP_TRIGGER = 182
    AISPEC = 183
    AISPEC_STOP_TRIGGER = 184
    TAG_OBSERVATION_TRIGGER = 185
    INVENTORY_PARAMETER_SPEC = 186
    IDENTIFICATION = 218
    KEEPALIVE_SPEC = 220
    RO_REPORT_SPEC = 237
    TAG_REPORT_CONTENT_SELECTOR = 238
    TAG_REPORT_DATA = 240
    EPC_DATA = 241
    READER_EVENT_NOTIFICATION_SPEC = 244
    EVENT_NOTIFICATION_STATE = 245
    READER_EVENT_NOTIFICATION_DATA = 246
    ROSPEC_EVENT = 249
    ANTENNA_EVENT = 255
    CONNECTION_ATTEMPT_EVENT = 256
    CONNECTION_CLOSE_EVENT = 257
    LLRP_STATUS = 287
    C1G2_LLRP_CAPABILITIES = 327
    C1G2_UHF_RF_MODE_TABLE = 328
    C1G2_UHF_RF_MODE_TABLE_ENTRY = 329
    C1G2_EPC_MEMORY_SELECTOR = 348


class TV(enum.IntEnum):
    """TV-encoded parameter types (§16.2.7.3, §15.2.1.5): 1-bit flag + 7-bit type, no length."""

    ANTENNA_ID = 1
    FIRST_SEEN_UTC = 2
    FIRST_SEEN_UPTIME = 3
    LAST_SEEN_UTC = 4
    LAST_SEEN_UPTIME = 5
    PEAK_RSSI = 6
    CHANNEL_INDEX = 7
    TAG_SEEN_COUNT = 8
    ROSPEC_ID = 9
    INVENTORY_PARAMETER_SPEC_ID = 10
    C1G2_CRC = 11
    C1G2_PC = 12
    EPC_96 = 13
    SPEC_INDEX = 14
    CLIENT_REQUEST_OP_SPEC_RESULT = 15
    ACCESS_SPEC_ID = 16
    OP_SPEC_ID = 17
    C1G2_SINGULATION_DETAILS = 18


#: Body size of each TV parameter. A TV parameter carries no length, so an
#: unknown TV type cannot be skipped (§4.1.2).
TV_SIZES: Final[dict[int, int]] = {
    TV.ANTENNA_ID: 2,
    TV.FIRST_SEEN_UTC: 8,
    TV.FIRST_SEEN_UPTIME: 8,
    TV.LAST_SEEN_UTC: 8,
    TV.LAST_SEEN_UPTIME: 8,
    TV.PEAK_RSSI: 1,
    TV.CHANNEL_INDEX: 2,
    TV.TAG_SEEN_COUNT: 2,
    TV.ROSPEC_ID: 4,
    TV.INVENTORY_PARAMETER_SPEC_ID: 2,
    TV.C1G2_CRC: 2,
    TV.C1G2_PC: 2,
    TV.EPC_96: 12,
    TV.SPEC_INDEX: 2,
    TV.CLIENT_REQUEST_OP_SPEC_RESULT: 2,
    TV.ACCESS_SPEC_ID: 4,
    TV.OP_SPEC_ID: 2,
    TV.C1G2_SINGULATION_DETAILS: 4,
}


class StatusCode(enum.IntEnum):
    """LLRPStatus codes (§14.1.1 / §16.2.8.1)."""

    M_SUCCESS = 0
    M_PARAMETER_ERROR = 100
    M_FIELD_ERROR = 101
    M_UNEXPECTED_PARAMETER = 102
    M_MISSING_PARAMETER = 103
    M_DUPLICATE_PARAMETER = 104
    M_OVERFLOW_PARAMETER = 105
    M_OVERFLOW_FIELD = 106
    M_UNKNOWN_PARAMETER = 107
    M_UNKNOWN_FIELD = 108
    M_UNSUPPORTED_MESSAGE = 109
    M_UNSUPPORTED_VERSION = 110
    M_UNSUPPORTED_PARAMETER = 111
    A_INVALID = 300
    A_OUT_OF_RANGE = 301
    R_DEVICE_ERROR = 401


class ConnectionAttemptStatus(enum.IntEnum):
    """ConnectionAttemptEvent status (§16.2.7.6.10)."""

    SUCCESS = 0
    FAILED_READER_INITIATED_EXISTS = 1
    FAILED_CLIENT_INITIATED_EXISTS = 2
    FAILED_OTHER = 3
    ANOTHER_CONNECTION_ATTEMPTED = 4


class ROSpecState(enum.IntEnum):
    """ROSpec CurrentState (§10.2.1)."""

    DISABLED = 0
    INACTIVE = 1
    ACTIVE = 2


class StartTrigger(enum.IntEnum):
    """ROSpecStartTriggerType (§16.2.4.1.1.1)."""

    NULL = 0
    IMMEDIATE = 1
    PERIODIC = 2
    GPI = 3


class StopTrigger(enum.IntEnum):
    """ROSpecStopTriggerType (§16.2.4.1.1.2)."""

    NULL = 0
    DURATION = 1
    GPI_WITH_TIMEOUT = 2


class AIStopTrigger(enum.IntEnum):
    """AISpecStopTriggerType (§16.2.4.2.1)."""

    NULL = 0
    DURATION = 1
    GPI_WITH_TIMEOUT = 2
    TAG_OBSERVATION = 3


class ReportTrigger(enum.IntEnum):
    """ROReportTrigger (§16.2.7.1)."""

    NONE = 0
    N_TAGS_OR_END_OF_AISPEC = 1
    N_TAGS_OR_END_OF_ROSPEC = 2


class KeepaliveTrigger(enum.IntEnum):
    """KeepaliveTriggerType (§16.2.6.4)."""

    NULL = 0
    PERIODIC = 1
