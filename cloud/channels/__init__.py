"""Channels: orders downloaded from marketplaces (订单下载), behind small ports, one adapter
per API shape. docs/channels.md says what is built and the rules that keep it from missing or
doubling an order."""
