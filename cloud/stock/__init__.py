"""Stock: the ledger and its derived levels, the F9/F10 views, warehouses and bins."""
