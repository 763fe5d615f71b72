"""Grad-CAM (Selvaraju et al., 2017): where the last convolutional block saw the class.

For class c with score y_c (the logit: the softmax, when the model has one, is stripped as
for calibration, because gradients of a saturated softmax vanish), the block's feature maps
A_k are weighed by the mean gradient of y_c over each map,
``cam = ReLU(sum_k mean_ij(dy_c/dA_k_ij) * A_k)``, and the map is resized bilinearly to the
model input (cells a ``Cropping2D`` right after the block drops are left at 0: the score
does not depend on them). One traced ``tf.function`` per model computes a whole batch, any
class per image (the predicted one by default), in one forward and one backward pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from app.core.explain.maps import PREDICTED, ClassMaps
from app.core.explain.nested import nested_probe
from app.core.explain.target_layer import (
    GradCAMUnavailable,
    NestedConvolutions,
    TargetLayer,
    find_target_layer,
    output_in_graph,
)
from app.core.models.loading import (
    LOGITS_FROM_PROBABILITIES,
    LOGITS_MODEL_OUTPUT,
    LOGITS_SIGMOID,
    LOGITS_STRIPPED_SOFTMAX,
    LoadedModel,
)
from app.core.tf_runtime import import_keras, import_tensorflow, on_tf_thread


def _producer(tensor: Any) -> Any:
    history = getattr(tensor, "_keras_history", None)
    return history.operation if history is not None else None


def _logit_graph(loaded: LoadedModel, keras: Any, tf: Any) -> tuple[Any, Any]:
    """(tensor in the model's graph, function of it giving logits), as ``find_heads`` reads them."""
    out = loaded.model.outputs[0]
    last = _producer(out)
    source = loaded.logits_source

    def dense(layer: Any) -> Any:
        def apply(feats: Any) -> Any:
            z = tf.matmul(tf.cast(feats, layer.kernel.dtype), layer.kernel)
            return tf.cast(z + layer.bias if layer.use_bias else z, tf.float32)
        return apply

    if source == LOGITS_STRIPPED_SOFTMAX and isinstance(last, keras.layers.Dense):
        return last.input, dense(last)
    if source == LOGITS_STRIPPED_SOFTMAX:  # a Softmax or Activation("softmax") layer
        return last.input, lambda t: tf.cast(t, tf.float32)
    if source == LOGITS_MODEL_OUTPUT:
        return out, lambda t: tf.cast(t, tf.float32)
    if source == LOGITS_SIGMOID:
        to_z = dense(last)
        return last.input, lambda t: tf.concat([tf.zeros_like(to_z(t)), to_z(t)], axis=1)
    assert source == LOGITS_FROM_PROBABILITIES
    return out, lambda t: tf.math.log(tf.maximum(tf.cast(t, tf.float32), 1e-30))


class GradCAM:
    """Grad-CAM for one loaded model; build once, call for every batch.

    Parameters
    ----------
    loaded : LoadedModel
        The model (Keras layers must be readable: not a SavedModel graph).
    layer : str, optional
        The feature-map layer to explain; default: the last convolutional block
        (:func:`~app.core.explain.target_layer.find_target_layer`).

    Raises
    ------
    GradCAMUnavailable
        The model has no convolutional layer Grad-CAM can read.
    """

    def __init__(self, loaded: LoadedModel, layer: str | None = None) -> None:
        self.loaded = loaded
        self.target: TargetLayer = on_tf_thread(self._build, layer)

    def _build(self, layer_name: str | None) -> TargetLayer:
        keras, tf = import_keras(), import_tensorflow()
        model = self.loaded.model
        graph_tensor, to_logits = _logit_graph(self.loaded, keras, tf)
        try:
            target = find_target_layer(model, layer_name)
        except NestedConvolutions as nested:  # a keras.applications base inside the model
            from_output = self.loaded.logits_source in (LOGITS_MODEL_OUTPUT, LOGITS_FROM_PROBABILITIES)
            target, probe = nested_probe(model, nested.layer, from_output, keras)
        else:
            try:
                probe = keras.Model(model.inputs, [output_in_graph(model, target.name), graph_tensor])
            except (ValueError, KeyError) as exc:
                raise GradCAMUnavailable(f"Grad-CAM is unavailable: layer {target.name!r} cannot "
                                         f"be read ({str(exc)[:120]}); use occlusion instead") from None
        h, w, c = self.loaded.input_shape
        size = (h, w)
        (top, bottom), (left, right) = target.cropped
        rows, cols = target.spatial_size
        reach = np.zeros((rows, cols), np.float32)
        reach[top:rows - bottom, left:cols - right] = 1.0

        def run(x: Any, classes: Any) -> tuple[Any, Any, Any]:
            with tf.GradientTape() as tape:
                feature_maps, head = probe(x, training=False)
                tape.watch(feature_maps)
                logits = to_logits(head)
                chosen = tf.where(classes < 0, tf.argmax(logits, axis=1, output_type=tf.int32), classes)
                score = tf.reduce_sum(logits * tf.one_hot(chosen, tf.shape(logits)[1]))
            grads = tape.gradient(score, feature_maps)
            weights = tf.reduce_mean(tf.cast(grads, tf.float32), axis=(1, 2), keepdims=True)
            cam = tf.nn.relu(tf.reduce_sum(weights * tf.cast(feature_maps, tf.float32), axis=-1))
            cam = cam * tf.constant(reach)
            cam = tf.image.resize(cam[..., None], size, method="bilinear")[..., 0]
            return cam, chosen, logits

        self._fn = tf.function(run, input_signature=[
            tf.TensorSpec((None, h, w, c), tf.float32), tf.TensorSpec((None,), tf.int32)],
            reduce_retracing=True)
        # Trace now, on this thread, so the first user request costs what every later one does.
        self._fn(np.zeros((1, h, w, c), np.float32), np.full((1,), PREDICTED, np.int32))
        return target

    def __call__(self, inputs: np.ndarray, classes: Sequence[int] | None = None,
                 batch_size: int = 32) -> ClassMaps:
        """Grad-CAM maps for a prepared batch.

        Parameters
        ----------
        inputs : ndarray of shape (n, H, W, C), float32
            Model inputs, as ``session.prepare`` gives them.
        classes : sequence of int, optional
            The class to explain per image; ``PREDICTED`` (-1) or None: the predicted one.
        batch_size : int, default=32
            Images per traced call (gradients keep every activation in memory).

        Returns
        -------
        ClassMaps
            Maps at model-input resolution, not normalised (0 where nothing speaks for the class).
        """
        x = np.asarray(inputs, dtype=np.float32)
        wanted = np.full(len(x), PREDICTED, np.int32) if classes is None else np.asarray(classes, np.int32)
        if wanted.shape != (len(x),):
            raise ValueError(f"got {wanted.shape[0]} classes for {len(x)} images")
        return on_tf_thread(self._run, x, wanted, batch_size)

    def _run(self, x: np.ndarray, wanted: np.ndarray, batch_size: int) -> ClassMaps:
        maps, chosen, logits = [], [], []
        for start in range(0, len(x), batch_size):
            cam, cls, z = self._fn(x[start : start + batch_size], wanted[start : start + batch_size])
            maps.append(cam.numpy())
            chosen.append(cls.numpy())
            logits.append(z.numpy())
        if not maps:
            h, w, _ = self.loaded.input_shape
            return ClassMaps(np.zeros((0, h, w), np.float32), np.zeros(0, int),
                             np.zeros((0, self.loaded.n_classes), np.float32))
        return ClassMaps(np.concatenate(maps), np.concatenate(chosen).astype(int),
                         np.concatenate(logits))
