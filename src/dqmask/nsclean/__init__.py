"""NSClean / clean_flicker_noise background masks: ``dqmask background``, ``png2fits``,
``fits2png``.

``core`` (pure arrays), ``files`` (file-level functions), ``cli`` (the commands), ``step`` (the
``dqmask_background`` stpipe step), ``tests``.
"""
