"""Measured speed of probscope against the naive Keras path (``make bench``)."""
