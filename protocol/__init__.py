"""The contract edges and cloud share: sans-I/O codecs and typed messages.

Nothing in this package performs I/O, reads a clock or draws randomness;
callers inject them. It imports nothing else of Guanjia's.
"""
