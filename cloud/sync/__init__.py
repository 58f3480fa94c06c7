"""Sync with edge nodes: applying their event batches, the MQTT loop, node assignment,
node credentials (enrolment). Above the domain: it drives orders, stock and the catalogue."""
