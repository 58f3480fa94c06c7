"""The books: a small strict double-entry ledger, the seller's chart of accounts and the
postings of business events (issue 18; docs/finance.md)."""
