"""jwst ``dq_init``: PIXELDQ/GROUPDQ from a MASK reference file: ``dqmask dqinit``.

``core`` (pure arrays), ``mask_ref`` (MASK reference and user DQ files), ``files`` (file-level
``dq_init_file``), ``options`` (its parameters, declared once; no numpy), ``cli`` (the
command), ``step`` (the ``dqmask_user_dq`` stpipe step), ``tests``.
"""
