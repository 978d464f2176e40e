"""``dqmask edit``: the browser mask editor.

* :mod:`~dqmask.editor.server` -- the local HTTP server (token, 127.0.0.1, JSON API).
* :mod:`~dqmask.editor.document` -- one open file: chips, working mask (``bad``: True =
  masked), shapes, undo, the cores of ``detect`` / ``background`` / ``apply``, saving and
  autosave.
* :mod:`~dqmask.editor.shapes` -- region shapes as JSON <-> DS9 text <-> pixel masks.
* :mod:`~dqmask.editor.paint` -- brush strokes and block reductions (pure functions).
* :mod:`~dqmask.editor.pixels` -- reading rectangles of an image from its file.
* ``static/`` -- the page (plain HTML, CSS and canvas JavaScript; package data).

See ``docs/editor.md``.
"""
