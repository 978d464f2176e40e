"""Pure algorithms on numpy arrays: no file I/O, no printing, no logging side effects
beyond ``warnings``. One module per job; each function's docstring states the mask
convention of every array it takes and returns (see :mod:`dqmask.conventions`).
"""
