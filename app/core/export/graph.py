"""One model session as one ``tf.Module``: preprocessing, model, calibration, check and sets.

The module's ``serve`` function is what ``probscope classify`` computes, in TensorFlow ops
only, so that TensorFlow Serving, Vertex AI or ``tf.saved_model.load`` give the same answer
without probscope: encoded images in, calibrated probabilities, the "none of the classes"
verdict and the prediction sets out.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from app.core.errors import CardError
from app.core.export.preprocess_graph import check_exportable, image_to_input
from app.core.models.statistics.layer_statistics import build_stats_heads
from app.core.ood.prior.digit_prior import extra_heads_for
from app.core.tf_runtime import import_tensorflow

# Scores the export can express; every score of the core is here (knn is one matmul and a
# top-k over the fitted bank, Mahalanobis one whitening matmul).
EXPORTABLE_SCORES = ("msp", "max_logit", "energy", "probe", "knn", "mahalanobis")


def _const(tf: Any, value: Any, dtype: Any) -> Any:
    return tf.constant(np.asarray(value), dtype=dtype)


class OODGraph:
    """The card's no-class score as TensorFlow ops (float64, like the numpy scorers)."""

    def __init__(self, tf: Any, detector: Any) -> None:
        self.name = detector.score_name
        if self.name not in EXPORTABLE_SCORES:
            raise CardError(f"cannot export the OOD score {self.name!r}")
        self.temperature = float(detector.temperature)
        if self.name == "probe":
            p = detector.probe_
            self.log_mask = _const(tf, p.log_mask_, tf.bool)
            self.mean, self.scale = _const(tf, p.mean_, tf.float64), _const(tf, p.scale_, tf.float64)
            self.coef, self.intercept = _const(tf, p.coef_, tf.float64), float(p.intercept_)
        elif self.name == "knn":
            self.bank = _const(tf, detector.knn_.bank_, tf.float32)
            self.k = int(detector.knn_.k)
        elif self.name == "mahalanobis":
            m = detector.mahalanobis_
            # The scorer's own whitened form, so the distances round as in numpy.
            self.centre = _const(tf, m._centre, tf.float64)
            self.whitener = _const(tf, m._whitener, tf.float64)
            self.white_means = _const(tf, m._white_means, tf.float64)
            self.white_means_sq = _const(tf, m._white_means_sq, tf.float64)

    def __call__(self, tf: Any, logits: Any, features: Any, stats: Any) -> Any:
        z = tf.cast(logits, tf.float64)
        if self.name == "max_logit":
            return tf.reduce_max(z, axis=1)
        if self.name == "msp":
            return tf.exp(tf.reduce_max(tf.nn.log_softmax(z / self.temperature), axis=1))
        if self.name == "energy":
            return self.temperature * tf.reduce_logsumexp(z / self.temperature, axis=1)
        if self.name == "probe":
            x = tf.cast(stats, tf.float64)
            x = tf.where(self.log_mask, tf.math.log1p(tf.maximum(x, 0.0)), x)
            return tf.linalg.matvec((x - self.mean) / self.scale, self.coef) + self.intercept
        if self.name == "knn":
            q = tf.cast(features, tf.float32)
            norms = tf.norm(q, axis=1, keepdims=True)
            q = tf.where(norms > 0, q / tf.where(norms > 0, norms, 1.0), 0.0)
            kth = tf.math.top_k(tf.matmul(q, self.bank, transpose_b=True), self.k).values[:, -1]
            q_sq = tf.cast(tf.reduce_sum(q * q, axis=1), tf.float64)
            return -tf.sqrt(tf.maximum(q_sq + 1.0 - 2.0 * tf.cast(kth, tf.float64), 0.0))
        white = tf.matmul(tf.cast(features, tf.float64) - self.centre, self.whitener)
        d = (tf.reduce_sum(white * white, axis=1)[:, None]
             - 2.0 * tf.matmul(white, self.white_means, transpose_b=True) + self.white_means_sq)
        return -tf.reduce_min(tf.maximum(d, 0.0), axis=1)


def sets_graph(tf: Any, p: Any, sets: Any) -> Any:
    """Conformal set membership (bool [N, C]) of float64 probabilities, as the numpy sets."""
    thresholds = _const(tf, sets.thresholds(), tf.float64)
    if sets.method == "lac":
        return (1.0 - p) - thresholds <= 1e-8
    order = tf.argsort(-p, axis=1, stable=True)
    cumulative = tf.cumsum(tf.gather(p, order, batch_dims=1), axis=1)
    if sets.method == "raps":
        ranks = tf.range(1, tf.shape(p)[1] + 1, dtype=tf.float64)
        cumulative += float(sets.lam) * tf.maximum(ranks - float(sets.k_reg), 0.0)
    scores = tf.gather(cumulative, tf.argsort(order, axis=1), batch_dims=1)
    members = scores - thresholds <= 1e-8
    # APS and RAPS sets always hold the top class (see app.core.calibration.conformal).
    top = tf.one_hot(tf.argmax(p, axis=1), tf.shape(p)[1], on_value=True, off_value=False)
    return tf.logical_or(members, top)


def build_export_module(session: Any) -> Any:
    """A ``tf.Module`` whose ``serve(image_bytes)`` answers as ``session.classify`` does.

    Parameters
    ----------
    session : ModelSession
        From :func:`app.core.open_model`; its card gives preprocessing, T, check and sets.

    Returns
    -------
    tf.Module
        With ``serve`` (a ``tf.function`` over ``image_bytes``: tf.string [N]) and the model
        tracked, ready for ``tf.saved_model.save``.

    Raises
    ------
    CardError
        The preprocessing or the check cannot be expressed in TensorFlow ops.
    """
    tf = import_tensorflow()
    spec = session.spec
    check_exportable(spec)
    loaded = session.loaded
    ood = OODGraph(tf, session.ood.detector)
    extras = []
    if ood.name == "probe":
        extras = extra_heads_for(session.ood.detector.probe_.extra_stats, spec)
        heads = build_stats_heads(loaded, extra_heads=extras)[0]
    else:
        heads = loaded.heads
    fallback = loaded.logits_are_fallback
    h, w = spec.target_size
    channels = spec.channels
    temperature = float(session.temperature)
    threshold = float(session.ood.threshold)
    sets = session.sets
    n_classes = len(session.classes)

    module = tf.Module()
    module.model = loaded.model  # tracks the weights the heads read
    # ... and the state weights leave out: the seeds of RandomFlip and the other augmentation
    # layers (identity at inference, yet their graph captures the seed variable).
    module.state = list(getattr(loaded.model, "variables", []))
    module.priors = [e.module for e in extras if e.module is not None]  # and those of the digit prior, if any
    module.classes = tf.constant(list(session.classes))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def serve(image_bytes: Any) -> dict[str, Any]:
        inputs = tf.map_fn(lambda b: image_to_input(tf, b, spec), image_bytes,
                           fn_output_signature=tf.TensorSpec([h, w, channels], tf.float32))
        logits, raw, feats, *more = heads(inputs)
        logits, raw = tf.cast(logits, tf.float32), tf.cast(raw, tf.float32)
        if fallback:
            logits = tf.math.log(tf.maximum(raw, 1e-30))
        n = tf.shape(inputs)[0]
        feats = None if feats is None else tf.reshape(tf.cast(feats, tf.float32), (n, -1))
        p64 = tf.nn.softmax(tf.cast(logits, tf.float64) / temperature)
        index = tf.argmax(p64, axis=1, output_type=tf.int32)
        score = ood(tf, logits, feats, more[0] if more else None)
        members = (sets_graph(tf, tf.nn.softmax(tf.cast(logits, tf.float64) / temperature), sets)
                   if sets is not None else tf.zeros((n, n_classes), tf.bool))
        return {
            "probabilities": tf.cast(p64, tf.float32),
            "raw_probabilities": raw,
            "logits": logits,
            "index": index,
            "label": tf.gather(module.classes, index),
            "ood_score": score,
            "in_distribution": score >= threshold,
            "prediction_set": members,
        }

    module.serve = serve
    return module
