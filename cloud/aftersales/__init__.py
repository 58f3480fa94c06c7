"""After-sales (售后): returns, exchanges and refunds against shipped orders (issue 17)."""
