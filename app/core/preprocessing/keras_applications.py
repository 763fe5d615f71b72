"""What ``keras.applications.<model>.preprocess_input`` does, per model, and its input size.

The modes are those of ``keras.applications.imagenet_utils.preprocess_input``:
``caffe`` (RGB→BGR, minus the ImageNet BGR mean, 0–255), ``tf`` (x/127.5 − 1) and
``torch`` (x/255, minus mean, over std, RGB). Models whose ``preprocess_input`` is a
pass-through (EfficientNet, EfficientNetV2, MobileNetV3, ConvNeXt, RegNet) carry their own
Rescaling/Normalization layers and take raw 0–255 pixels, so their mode is None.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.errors import CardError


@dataclass(frozen=True)
class KerasApplicationPreset:
    """One ``keras.applications`` family member: its module, mode and default input size."""

    name: str  # the constructor, e.g. "ResNet50"
    module: str  # keras.applications.<module>
    mode: str | None
    size: int


def _family(module: str, mode: str | None, sizes: dict[str, int]) -> list[KerasApplicationPreset]:
    return [KerasApplicationPreset(name, module, mode, size) for name, size in sizes.items()]


_PRESETS = [
    *_family("vgg16", "caffe", {"VGG16": 224}),
    *_family("vgg19", "caffe", {"VGG19": 224}),
    *_family("resnet50", "caffe", {"ResNet50": 224}),
    *_family("resnet", "caffe", {"ResNet101": 224, "ResNet152": 224}),
    *_family("resnet_v2", "tf", {"ResNet50V2": 224, "ResNet101V2": 224, "ResNet152V2": 224}),
    *_family("inception_v3", "tf", {"InceptionV3": 299}),
    *_family("inception_resnet_v2", "tf", {"InceptionResNetV2": 299}),
    *_family("xception", "tf", {"Xception": 299}),
    *_family("mobilenet", "tf", {"MobileNet": 224}),
    *_family("mobilenet_v2", "tf", {"MobileNetV2": 224}),
    *_family("nasnet", "tf", {"NASNetMobile": 224, "NASNetLarge": 331}),
    *_family("densenet", "torch", {"DenseNet121": 224, "DenseNet169": 224, "DenseNet201": 224}),
    *_family("mobilenet_v3", None, {"MobileNetV3Small": 224, "MobileNetV3Large": 224}),
    *_family("efficientnet", None, {f"EfficientNetB{i}": s for i, s in
                                    enumerate((224, 240, 260, 300, 380, 456, 528, 600))}),
    *_family("efficientnet_v2", None, {"EfficientNetV2B0": 224, "EfficientNetV2B1": 240,
                                       "EfficientNetV2B2": 260, "EfficientNetV2B3": 300,
                                       "EfficientNetV2S": 384, "EfficientNetV2M": 480,
                                       "EfficientNetV2L": 480}),
    *_family("convnext", None, {f"ConvNeXt{s}": 224 for s in
                                ("Tiny", "Small", "Base", "Large", "XLarge")}),
]


def _key(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "").replace(" ", "")


# Both constructor names ("DenseNet121", "mobilenet_v2") and module names ("densenet",
# "resnet50") resolve; a module name means its first (smallest) member.
_BY_KEY: dict[str, KerasApplicationPreset] = {}
for _preset in _PRESETS:
    _BY_KEY.setdefault(_key(_preset.module), _preset)
    _BY_KEY[_key(_preset.name)] = _preset
MODES_BY_MODULE = {p.module: p.mode for p in _PRESETS} | {"imagenet_utils": "caffe"}


def keras_application_preset(name: str) -> KerasApplicationPreset:
    """Look up a ``keras.applications`` model or module name, case- and underscore-blind.

    Raises
    ------
    CardError
        The name is not a known ``keras.applications`` model.
    """
    preset = _BY_KEY.get(_key(name.removeprefix("keras.applications.")))
    if preset is None:
        raise CardError(
            f"unknown keras.applications model {name!r}: try e.g. resnet50, mobilenet_v2, "
            "densenet121, inception_v3, efficientnetb0"
        )
    return preset


def preset_names() -> list[str]:
    """Every accepted name, lower case, for help texts."""
    return sorted({p.module for p in _PRESETS} | {p.name.lower() for p in _PRESETS})
