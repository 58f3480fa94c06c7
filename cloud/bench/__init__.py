"""The cloud benchmarks, reached as ``guanjia bench cloud``."""
