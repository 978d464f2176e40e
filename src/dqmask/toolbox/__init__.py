"""Mask utilities: ``combine``, ``grow``, ``convert``, ``regions``, ``preview``, ``explain``.

``combine`` / ``morphology`` (pure arrays), ``files`` (file-level functions), ``preview``,
``cli`` / ``cli_preview`` / ``cli_explain`` (the commands), ``tests``.
"""
