"""File formats: FITS (with JWST/HST classification), PNG and DS9 regions.

Algorithms never import from here; steps and the CLI do.
"""
