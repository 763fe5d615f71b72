"""Where the model looks: Grad-CAM and occlusion heat maps, carried back to the original image."""

from app.core.lazy_exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".run": ["METHODS", "Explainer", "Explanation", "save_overlay"],
    ".maps": ["PREDICTED", "ClassMaps"],
    ".gradcam": ["GradCAM"],
    ".target_layer": ["GradCAMUnavailable", "TargetLayer", "find_target_layer",
                      "gradcam_unavailable"],
    ".occlusion": ["OcclusionPlan", "occluded_copies", "occlusion_maps", "occlusion_plan"],
    ".geometry": ["InputGeometry", "input_geometry", "original_image"],
    ".overlay": ["COLORMAPS", "DEFAULT_COLORMAP", "DEFAULT_OPACITY", "blend", "colorize",
                 "colormap_lut", "legend", "mark_peak", "normalize_map"],
})
