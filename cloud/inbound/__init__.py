"""Inbound: suppliers, purchase orders as documents, receipts against them (docs/inbound.md)."""
