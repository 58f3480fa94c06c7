"""A Shopify-Admin-REST-shaped store over the same marketplace world (market.py): the same
buyers, trades and truth log, seen through Shopify's order shape (docs/channels.md, "The
Shopify shape")."""
