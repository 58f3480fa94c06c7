"""The Taobao Open Platform (TOP) adapter: the client (signing, envelopes, errors) and the
order source. Written from the TOP documentation; shares no code with the simulator."""
