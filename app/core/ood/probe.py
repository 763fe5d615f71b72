"""A learned "none of the classes" score: logistic regression on in-graph layer statistics.

The probe separates the user's labelled images from the built-in no-class reference using the
statistics vector of ``graph_stats`` (per-channel mean/std of each ReLU-family block, the
penultimate features, max logit, energy and MSP). Layer statistics are non-negative and
heavy-tailed, so they are ``log1p``-compressed before standardising.

Cross-fitting: the labelled images and the reference are cut into ``n_folds`` folds (labelled
images stratified by class, reference by kind). Fold model ``k`` is fitted without fold ``k``
and scores it, so every image has an out-of-fold score; the threshold is the ``1 - tpr``
quantile of the labelled images' out-of-fold scores. All fold models share one standardiser,
so their average is again one linear model: that average is what is stored and used at run
time. A new real image is unseen by every fold model, so the average of its fold scores has the
out-of-fold mean with less spread, and the promised acceptance holds (slightly conservatively).

Scoring needs only numpy (``ProbeScore.from_arrays``): no scikit-learn pickle in the card.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from app.core.ood.folds import stratified_folds

# Below this held-out AUROC against the labelled images a reference kind is taken to be what
# the classes look like (e.g. a texture classifier and the "stripes" kind); fitting against it
# would only move the boundary into the real images, so it is dropped and reported.
INDISTINGUISHABLE_AUROC = 0.6
MIN_LABELLED = 50
# With kind_weight="auto" no reference kind weighs more than this many median-sized kinds.
KIND_CAP = 4.0


class ProbeScore:
    """Logistic-regression probe, labelled images (in) against the no-class reference (out).

    Parameters
    ----------
    C : float, default=0.05
        Inverse L2 strength of the logistic regression (standardised inputs).
    n_folds : int, default=5
        Folds for cross-fitting the threshold.
    tpr : float, default=0.95
        Share of real images the threshold accepts.
    log_columns : array-like of int, optional
        Columns compressed with ``log1p`` (non-negative layer statistics).
    random_state : int, default=0
        Seeds the folds.
    kind_weight : "auto", mapping of str to float, or None, default="auto"
        Sample weight of the reference rows of each kind. ``"auto"`` caps a kind's total weight
        at ``KIND_CAP`` times the median kind size, so a large kind (many glyphs, generated for
        their variety) does not crowd out the others; a mapping gives per-kind weights (default
        1); ``None`` weights every row 1 (the previous behaviour).
    boost_columns : mapping of int to float, optional
        Columns whose standardised values are multiplied by a factor before fitting (under the
        L2 penalty a factor b weighs like b**2 copies of the column): the digit prior.
    extra_stats : sequence of str, default=()
        Names of statistics the scoring call must also compute (e.g. ``"digit prior/energy"``);
        recorded with the probe so that opening the card builds the same statistics.

    Attributes
    ----------
    mean_, scale_ : ndarray of shape (n_features,)
        Standardiser, applied after ``log1p`` of ``log_columns``.
    coef_ : ndarray of shape (n_features,)
        Fold-averaged coefficients. ``intercept_`` : float.
    threshold_ : float
        Scores at or above it are accepted.
    oof_in_, oof_ref_ : ndarray
        Out-of-fold scores of the labelled images and of the reference.
    kinds_ : list of str
        Reference kinds used; ``dropped_kinds_`` maps dropped kinds to their held-out AUROC.
    """

    def __init__(self, C: float = 0.05, n_folds: int = 5, tpr: float = 0.95,
                 log_columns: Any = None, random_state: int = 0,
                 kind_weight: str | Mapping[str, float] | None = "auto",
                 boost_columns: Mapping[int, float] | None = None,
                 extra_stats: Sequence[str] = ()) -> None:
        self.C = C
        self.boost_columns = boost_columns
        self.extra_stats = tuple(extra_stats)
        self.n_folds = n_folds
        self.tpr = tpr
        self.log_columns = log_columns
        self.random_state = random_state
        self.kind_weight = kind_weight

    # -- fitting -------------------------------------------------------------------------
    def _transform(self, stats: np.ndarray) -> np.ndarray:
        x = np.asarray(stats, np.float64).copy()
        if self.log_mask_.any():
            x[:, self.log_mask_] = np.log1p(np.maximum(x[:, self.log_mask_], 0.0))
        return x

    def _fit_lr(self, x: np.ndarray, y: np.ndarray, init: tuple[np.ndarray, float] | None = None,
                w_ref: np.ndarray | None = None) -> tuple[np.ndarray, float]:
        # scikit-learn costs a second to import: only fitting needs it, never scoring.
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=self.C, class_weight="balanced", max_iter=500,
                                warm_start=init is not None)
        if init is not None:
            # Fold and leave-one-kind-out fits differ little from each other: starting from a
            # neighbour's solution cuts L-BFGS iterations several-fold.
            lr.coef_, lr.intercept_ = init[0][None, :].copy(), np.array([init[1]])
        w = None
        if w_ref is not None:  # reference rows are last; in-rows keep weight 1 before balancing
            w = np.r_[np.ones(len(y) - len(w_ref)), w_ref]
            n_in = len(y) - len(w_ref)
            w[n_in:] *= n_in / w[n_in:].sum()  # balance the two sides by total weight
        lr.set_params(class_weight=None if w is not None else "balanced")
        lr.fit(x, y, sample_weight=w)
        return lr.coef_[0].copy(), float(lr.intercept_[0])

    def _cross_fit(self, z_in: np.ndarray, z_ref: np.ndarray, fin: np.ndarray, fref: np.ndarray,
                   wref: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """Out-of-fold scores and the fold-averaged (coef, intercept)."""
        oof_in, oof_ref = np.empty(len(z_in)), np.empty(len(z_ref))
        coefs, icepts = [], []
        for k in range(self.n_folds):
            tin, tref, tex = fin != k, fref != k, self._fextra != k
            x = np.vstack([z_in[tin], self._z_extra[tex], z_ref[tref]])
            y = np.r_[np.ones(tin.sum() + tex.sum()), np.zeros(tref.sum())]
            coef, icept = self._fit_lr(x, y, (coefs[-1], icepts[-1]) if coefs else None,
                                       None if wref is None else wref[tref])
            oof_in[~tin] = z_in[~tin] @ coef + icept
            oof_ref[~tref] = z_ref[~tref] @ coef + icept
            coefs.append(coef)
            icepts.append(icept)
        return oof_in, oof_ref, np.mean(coefs, axis=0), float(np.mean(icepts))

    def fit(self, stats_in: np.ndarray, stats_ref: np.ndarray, ref_kinds: np.ndarray,
            labels: np.ndarray | None = None, stats_extra: np.ndarray | None = None,
            extra_source: np.ndarray | None = None) -> ProbeScore:
        """Fit on labelled images against the reference; set the cross-fitted threshold.

        Parameters
        ----------
        stats_in : ndarray of shape (n_in, n_features)
            Statistics of the user's labelled images.
        stats_ref : ndarray of shape (n_ref, n_features)
            Statistics of the reference (plus ``--ood-data`` images, as their own kind).
        ref_kinds : ndarray of shape (n_ref,)
            Kind name of every reference row.
        labels : ndarray of shape (n_in,), optional
            Classes of the labelled images, to stratify the folds.
        stats_extra : ndarray of shape (n_extra, n_features), optional
            Jittered copies of labelled images: fitted as in-distribution, never used for the
            threshold.
        extra_source : ndarray of shape (n_extra,), optional
            Row of ``stats_in`` each copy was made from; a copy joins its source's fold, so no
            copy of a held-out image is fitted on.

        Returns
        -------
        self
        """
        # With the TensorFlow pool and other processes busy, multi-threaded BLAS on these small
        # (thousands x hundreds) matrices oversubscribes the cores: measured 40x slower.
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            return self._fit(stats_in, stats_ref, ref_kinds, labels, stats_extra, extra_source)

    def _fit(self, stats_in: np.ndarray, stats_ref: np.ndarray, ref_kinds: np.ndarray,
             labels: np.ndarray | None, stats_extra: np.ndarray | None,
             extra_source: np.ndarray | None) -> ProbeScore:
        s_in, s_ref = np.asarray(stats_in, np.float64), np.asarray(stats_ref, np.float64)
        kinds = np.asarray(ref_kinds).astype(str)
        if len(s_in) < MIN_LABELLED:
            raise ValueError(f"the probe needs at least {MIN_LABELLED} labelled images, "
                             f"got {len(s_in)}")
        self.log_mask_ = np.zeros(s_in.shape[1], bool)
        if self.log_columns is not None:
            self.log_mask_[np.asarray(self.log_columns, np.intp)] = True
        s_extra = (np.zeros((0, s_in.shape[1])) if stats_extra is None
                   else np.asarray(stats_extra, np.float64))
        z_all = self._transform(np.vstack([s_in, s_ref]))
        self.mean_ = z_all.mean(axis=0)
        # Constant columns (dead channels) get scale 1: they standardise to 0 and carry no weight.
        std = z_all.std(axis=0)
        self.scale_ = np.where(std > 1e-8, std, 1.0)
        for column, factor in (self.boost_columns or {}).items():
            self.scale_[column] /= factor  # scoring divides by scale_: the boost is kept
        z_in = (z_all[:len(s_in)] - self.mean_) / self.scale_
        z_ref = (z_all[len(s_in):] - self.mean_) / self.scale_
        groups = np.zeros(len(s_in)) if labels is None else np.asarray(labels)
        fin = stratified_folds(groups, self.n_folds, self.random_state)
        self._z_extra = (self._transform(s_extra) - self.mean_) / self.scale_
        self._fextra = (fin[np.asarray(extra_source, np.intp)] if len(s_extra)
                        else np.zeros(0, np.intp))
        fref = stratified_folds(kinds, self.n_folds, self.random_state + 1)
        wref = self._ref_weights(kinds)
        oof_in, oof_ref, coef, icept = self._cross_fit(z_in, z_ref, fin, fref, wref)
        self.kind_auroc_ = {k: _auroc(oof_in, oof_ref[kinds == k]) for k in np.unique(kinds)}
        self.dropped_kinds_ = {k: a for k, a in self.kind_auroc_.items()
                               if a < INDISTINGUISHABLE_AUROC}
        keep = ~np.isin(kinds, list(self.dropped_kinds_))
        if self.dropped_kinds_:  # refit without them; their rows keep no score (NaN)
            oof_in, oof_kept, coef, icept = self._cross_fit(z_in, z_ref[keep], fin, fref[keep],
                                                           None if wref is None else wref[keep])
            oof_ref = np.full(len(z_ref), np.nan)
            oof_ref[keep] = oof_kept
        self.coef_, self.intercept_ = coef, icept
        self.threshold_ = float(np.quantile(oof_in, 1.0 - self.tpr))
        self.oof_in_, self.oof_ref_ = oof_in, oof_ref
        self.kinds_ = [k for k in dict.fromkeys(kinds) if k not in self.dropped_kinds_]
        self._z_in, self._z_ref, self._kinds = z_in, z_ref, kinds
        self._fin, self._fref, self._wref = fin, fref, wref
        return self

    def _ref_weights(self, kinds: np.ndarray) -> np.ndarray | None:
        if not self.kind_weight:
            return None
        if isinstance(self.kind_weight, str):
            names, counts = np.unique(kinds, return_counts=True)
            cap = KIND_CAP * float(np.median(counts))
            w = dict(zip(names, np.minimum(1.0, cap / counts), strict=True))
            return None if all(v == 1.0 for v in w.values()) else np.array([w[k] for k in kinds])
        return np.array([float(self.kind_weight.get(k, 1.0)) for k in kinds])

    def leave_one_kind_out(self) -> list[dict[str, Any]]:
        """Per kind: share accepted out-of-fold, and share accepted when the kind is left out.

        For ``held_out_accepted`` one model is fitted on folds 1..k-1 of the labelled images
        and on every other kept kind; its threshold is set on labelled fold 0, which it never
        saw, and the share of kind ``K`` scoring at or above it is reported.

        Returns
        -------
        list of dict
            ``{"kind", "accepted", "held_out_accepted", "auroc"}`` per kind used.
        """
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            return self._leave_one_kind_out()

    def _leave_one_kind_out(self) -> list[dict[str, Any]]:
        rows = []
        test = self._fin == 0
        for kind in self.kinds_:
            is_k = self._kinds == kind
            train_ref = ~is_k & ~np.isin(self._kinds, list(self.dropped_kinds_))
            acc = float(np.mean(self.oof_ref_[is_k] >= self.threshold_))
            if not train_ref.any():
                # The only kind left (the others looked like the labelled images): no probe
                # can be fitted without it, so its out-of-fold figure stands in.
                rows.append({"kind": kind, "accepted": acc, "held_out_accepted": acc,
                             "auroc": self.kind_auroc_[kind]})
                continue
            tex = self._fextra != 0
            x = np.vstack([self._z_in[~test], self._z_extra[tex], self._z_ref[train_ref]])
            y = np.r_[np.ones((~test).sum() + tex.sum()), np.zeros(train_ref.sum())]
            coef, icept = self._fit_lr(x, y, (self.coef_, self.intercept_),
                                       None if self._wref is None else self._wref[train_ref])
            thr = np.quantile(self._z_in[test] @ coef + icept, 1.0 - self.tpr)
            held = float(np.mean(self._z_ref[is_k] @ coef + icept >= thr))
            rows.append({"kind": kind, "accepted": acc, "held_out_accepted": held,
                         "auroc": self.kind_auroc_[kind]})
        return rows

    # -- run time ------------------------------------------------------------------------
    def score(self, stats: np.ndarray) -> np.ndarray:
        """Log-odds of "one of the classes"; higher is more in-distribution.

        Parameters
        ----------
        stats : ndarray of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,), float64
        """
        z = (self._transform(stats) - self.mean_) / self.scale_
        return z @ self.coef_ + self.intercept_

    def accepts(self, stats: np.ndarray) -> np.ndarray:
        """True where the image is taken to be one of the classes."""
        return self.score(stats) >= self.threshold_

    def to_arrays(self, prefix: str = "probe_") -> dict[str, np.ndarray]:
        """Plain arrays for the statistics ``.npz`` (no pickle)."""
        return {prefix + "coef": self.coef_, prefix + "intercept": np.array(self.intercept_),
                prefix + "mean": self.mean_, prefix + "scale": self.scale_,
                prefix + "log_mask": self.log_mask_, prefix + "threshold":
                np.array(self.threshold_), prefix + "kinds": np.array(self.kinds_, dtype=str),
                prefix + "extra_stats": np.array(self.extra_stats, dtype=str)}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], prefix: str = "probe_") -> ProbeScore:
        """A scoring-only probe rebuilt from :meth:`to_arrays` output."""
        extra = arrays.get(prefix + "extra_stats", ())
        probe = cls(extra_stats=[str(e) for e in extra])
        probe.coef_ = np.asarray(arrays[prefix + "coef"], np.float64)
        probe.intercept_ = float(arrays[prefix + "intercept"])
        probe.mean_ = np.asarray(arrays[prefix + "mean"], np.float64)
        probe.scale_ = np.asarray(arrays[prefix + "scale"], np.float64)
        probe.log_mask_ = np.asarray(arrays[prefix + "log_mask"], bool)
        probe.threshold_ = float(arrays[prefix + "threshold"])
        probe.kinds_ = [str(k) for k in arrays[prefix + "kinds"]]
        return probe


def _auroc(pos: np.ndarray, neg: np.ndarray) -> float:
    if len(neg) == 0 or len(pos) == 0:
        return float("nan")
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(np.r_[np.ones(len(pos)), np.zeros(len(neg))], np.r_[pos, neg]))
