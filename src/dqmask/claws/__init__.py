"""Claw / wisp detection in DS9 regions (Crab.Toolkit.JWST claw masks): ``dqmask detect``.

``core`` (pure arrays), ``files`` (file-level ``detect_file``), ``cli`` (the command), ``step``
(the ``dqmask_claws`` stpipe step), ``tests``.
"""
