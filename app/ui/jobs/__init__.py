"""Long work off the GUI thread: one :class:`~app.ui.jobs.runner.JobRunner` and the job functions.

``runner``      the runner (newest request wins, cancellation, errors become messages)
``model_jobs``  loading a model (after trust) and closing a replaced one
``image_jobs``  one image classified and rendered, a history row re-rendered, thumbnails
``folder_run``  files and folders classified batch by batch, streamed
``data_jobs``   a data set's model outputs (cached by the core)
``ood_jobs``    the "none of the classes" fit against the built-in reference, for its tab
``explain_jobs`` the heat map of the current image (Grad-CAM or occlusion)

Job functions import TensorFlow and the heavy core modules inside their bodies, so importing
this package (and the window) never pulls in the model stack.
"""
