"""File-level operations (the 'step' layer): read with :mod:`dqmask.io`, compute with
:mod:`dqmask.algorithms`, write atomically with provenance. The CLI and the Python API are
thin wrappers over these functions.
"""
