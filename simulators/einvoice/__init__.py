"""A Nuonuo-shaped e-invoice (数电票) provider: ``guanjia sim einvoice`` (issue 18)."""
