"""The analysis tabs: ``base`` (what every panel shares), its parts (data picker, messages,
job progress) and one sub-package per panel: ``calibration``, ``ood``, ``diagnostics``.

Panels bind to the :class:`~app.ui.state.ViewState` they are given and never import the window.
"""
