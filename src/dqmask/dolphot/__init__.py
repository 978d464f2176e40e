"""DOLPHOT preparation: ``nircammask`` / ``acsmask`` / ``wfc3mask`` / ``splitgroups``.

``core`` (pure arrays), ``files`` (file-level functions), ``cli`` (the commands), ``tests``.
"""
