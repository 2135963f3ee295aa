"""Customer messages: composing, recording and delivering them through a channel.

Must not import ``offers``, ``dunning`` or ``scoring``.
"""
