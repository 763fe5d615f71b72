"""The main window: its shell, the controllers behind it, menus, start-up and --screenshot.

``main_window``         the shell: layout, tabs, drop routing, settings, idleness
``session_controller``  which model: loading, trust, fallback, drops waiting for a model
``display``             which result is current: single images, history rows
``folder_runs``         batches of images, one run at a time, cancellable
``actions``             menus, shortcuts and file dialogs
``launch``              ``probscope gui``; ``screenshot`` its --screenshot mode
``settings``, ``status_bar``, ``trust_dialog``, ``about``, ``excepthook``
"""
