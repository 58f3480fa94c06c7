"""Device wire codecs (LLRP, MT-SICS, Toledo continuous, ZPL), sans-I/O."""
