"""Benchmarks that run the parts as in production (``guanjia bench codec|sync|fanin``)."""
