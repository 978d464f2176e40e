"""drizzlepac staticMask: one static bad-pixel mask per detector signature: ``dqmask static``.

``core`` (pure arrays), ``files`` (file-level ``make_static_masks``), ``cli`` (the command),
``tests``.
"""
