"""Cainiao (菜鸟) e-waybills through the TOP gateway."""
