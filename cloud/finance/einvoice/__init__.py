"""E-invoices (数电票): requests, the provider port and its adapters, the worker (issue 18)."""
