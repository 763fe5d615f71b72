"""The window over :mod:`app.core`: PySide6, pyqtgraph and superqt; no ML logic here.

``state``          the one evented view state widgets bind to and plots subscribe to
``history_model``  the history of results as a Qt table model (held by the state)
``jobs``           the job runner (newest request wins, cancellation) and the job functions
``window``         the main-window shell, its controllers, menus, start-up
``results``        the current result, the probability plot, the history table, folder reports
``panels``         the analysis tabs: calibration, "none of the classes", diagnostics
``widgets``        small shared widgets and plot style
"""
