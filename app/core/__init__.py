"""Qt-free core of probscope: usable from a training script or a notebook.

Nothing here imports TensorFlow at module import time; functions that need it
import it through :func:`app.core.tf_runtime.import_tensorflow`.
"""
