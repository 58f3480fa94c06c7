"""Edge nodes as the hub knows them (registry) and the per-node downlink log.

Below the domain: orders, stock and the catalogue queue downlink changes for nodes here;
cloud/sync/ (above the domain) applies what nodes send and serves what they are owed.
"""
