"""``dqmask apply``: OR a mask file and/or DS9 regions into the DQ of JWST/HST exposures.

``core`` (pure arrays), ``files`` (file-level ``apply_to_file``), ``cli`` (the command),
``step`` (the ``dqmask_apply`` stpipe step), ``tests``.
"""
