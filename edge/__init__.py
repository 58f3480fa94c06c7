"""The edge node: stations, devices, the offline-first store and the sync agent."""
