"""Specialists: the models and decoders that fill in what a source lacks (here: video decoding)."""
