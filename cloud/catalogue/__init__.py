"""The catalogue: SKUs and barcodes, what nodes are sent of it, CSV/Excel import and export."""
