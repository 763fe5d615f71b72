"""Where the model looks: heat maps over the current image, on the worker, newest request wins.

The view state holds the choice (``explain_method``, ``explain_class``, ``explain_opacity``);
the result view's heat-map row writes the method and opacity, a click on a bar of the
probability plot the class. Every change of image, method or class is one request (one
image, one method, one class) on one :class:`~app.ui.jobs.runner.JobRunner`: an older
request still running is cancelled and whatever it returns dropped. The opacity only
re-blends the last map. Only the current image is ever explained, never the history.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from app.ui.jobs.explain_jobs import (
    METHOD_TITLES,
    ExplainerCache,
    ExplainRequest,
    HeatMap,
    blend_pictures,
    explain_job,
)
from app.ui.jobs.runner import JobRunner
from app.ui.widgets.qt_images import qimage_to_rgb, rgb_to_qimage

if TYPE_CHECKING:
    from app.core import ModelSession
    from app.ui.results.result_view import ResultView
    from app.ui.state import ViewState

GRADCAM_OFF = ("Grad-CAM is not available for this model: {reason}. "
               "Occlusion works for any model: choose it above.")


class ExplainController(QObject):
    """Keeps the two pictures' heat-map overlays in step with the view state."""

    def __init__(self, state: ViewState, result_view: ResultView) -> None:
        super().__init__(result_view)
        self.state = state
        self.view = result_view
        self.controls = result_view.heatmap
        self.cache = ExplainerCache()
        self.runner = JobRunner(self)
        self.runner.finished.connect(self._on_heat_map)
        self.runner.failed.connect(self._on_failed)
        self.heat: HeatMap | None = None  # the map on show
        self.wanted: ExplainRequest | None = None  # the newest request
        self.gradcam_reason: str | None = None  # why Grad-CAM is off for this model

        self.controls.method_chosen.connect(state.set_explain_method)
        self.controls.opacity_chosen.connect(state.set_explain_opacity)
        self.controls.set_opacity(state.explain_opacity)
        state.session_changed.connect(self._on_session)
        state.current_changed.connect(lambda _: self.request())
        state.explain_changed.connect(self.request)
        state.explain_opacity_changed.connect(lambda _: self._blend())

    @property
    def jobs_in_flight(self) -> int:
        return self.runner.in_flight

    def _on_session(self, session: ModelSession | None) -> None:
        from app.core.explain import gradcam_unavailable

        self.runner.cancel(silent=True)
        self.cache = ExplainerCache()  # a new model: a new explainer, traced on first use
        self.gradcam_reason = None
        # Known from the config, so the button is off before anyone tries (the caption stays
        # quiet until they do: a .tflite is not an error on every image).
        loaded = None if session is None else session.loaded
        reason = None if loaded is None else gradcam_unavailable(
            loaded.format, loaded.inspection.layer_classes)
        self.controls.set_gradcam_available(reason is None, reason or "")
        self._show(None)
        self.controls.show_text("")

    def _request_for_current(self) -> ExplainRequest | None:
        state, result = self.state, self.state.current
        if state.explain_method is None or result is None or not result.ok:
            return None
        return ExplainRequest(result.path, state.current_key, state.explain_method,
                              state.explain_class, state.generation)

    def request(self) -> None:
        """Ask for the heat map the state describes (nothing when off or nothing is shown)."""
        self.controls.set_method(self.state.explain_method)
        wanted = self._request_for_current()
        if wanted == self.wanted and (self.runner.running or self.heat is not None):
            return  # already shown or on its way (a re-score re-announces the same image)
        self.wanted = wanted
        handle, result = self.state.handle, self.state.current
        if wanted is None or handle is None or result is None:
            self.runner.cancel(silent=True)
            self._show(None)
            reason = self.gradcam_reason
            self.controls.show_text("" if reason is None else GRADCAM_OFF.format(
                reason=reason.rstrip(".")), error=reason is not None)
            return
        if wanted.method == "gradcam" and self.gradcam_reason is not None:
            self.state.set_explain_method(None)
            return
        self._show(None)  # the old map belongs to another image or class
        self.controls.show_text(f"Computing {self._title(wanted, result.label)}…")
        plain = self.view.original.image()
        original = None if plain is None else qimage_to_rgb(plain)
        self.runner.start(explain_job, handle, self.cache, wanted, result, original)

    def _title(self, request: ExplainRequest, class_name: str | None) -> str:
        if request.class_index is not None and self.state.session is not None:
            class_name = self.state.session.classes[request.class_index]
        how = "predicted" if request.class_index is None else "chosen"
        return f"{METHOD_TITLES[request.method]} for ‘{class_name}’ ({how})"

    def _on_heat_map(self, heat: HeatMap) -> None:
        if heat.request != self.wanted:
            return  # asked for before the newest request: stale
        if heat.unavailable is not None:
            self.gradcam_reason = heat.unavailable
            self.controls.set_gradcam_available(False, heat.unavailable)
            self.heat = None
            self.wanted = None
            self.state.set_explain_method(None)
            self.controls.show_text(GRADCAM_OFF.format(reason=heat.unavailable.rstrip(".")),
                                    error=True)
            return
        self._show(heat)
        hint = "click a bar on the right to explain another class" if heat.predicted else (
            "click the predicted class's bar to go back")
        if heat.nothing_speaks:
            hint = f"nothing in the image speaks for ‘{heat.class_name}’ (0 everywhere) · {hint}"
        self.controls.show_text(f"{self._title(heat.request, heat.class_name)} · "
                                f"<small>{hint}</small>")

    def _on_failed(self, message: str) -> None:
        self.heat = None
        self._show(None)
        self.controls.show_text(f"No heat map: {message}", error=True)

    def _show(self, heat: HeatMap | None) -> None:
        self.heat = heat
        self._blend()

    def _blend(self) -> None:
        """Paint the map over both pictures at the state's opacity (the map is not recomputed)."""
        heat = self.heat
        if heat is None:
            self.view.set_overlays(None, None)
            return
        original, seen = blend_pictures(heat, self.state.explain_opacity)
        self.view.set_overlays(None if original is None else rgb_to_qimage(original),
                               None if seen is None else rgb_to_qimage(seen))
