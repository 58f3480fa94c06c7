"""The Shopify shape: Admin REST orders as an order source, fulfillments as the shipment
confirmer, and signed webhooks as hints (docs/channels.md, "The Shopify shape")."""
