"""Image networks for image regression (counting objects, predicting an angle, ...).

Every network is an :class:`ImageNetwork`: a convolutional ``backbone`` that ends in global
average pooling, so it takes any image size, then dropout and a linear ``head``. Two networks
built with the same name, shape, width and stem stride have interchangeable backbones: loading
one's ``backbone`` state into the other (with its own fresh head) is transfer learning.

* ``"resnet"``: the ResNet-18 layout for small images: a 3x3 stem (no 7x7 convolution or max
  pool), four stages of two :class:`BasicBlock` of widths ``width, 2w, 4w, 8w`` and strides
  ``1, 2, 2, 2``.
* ``"cnn"``: three plain stages of two 3x3 convolutions and a 2x2 max pool, widths
  ``width, 2w, 4w``.

``stem_stride`` (1, 2 or 4) is the stride of the first convolution: 2 or 4 makes a large image
4 or 16 times cheaper to train (see :func:`image_cost`). A stride-4 stem convolution is 5x5, not
3x3, so that it still sees every pixel.

**Shape**: ``image [B, C, H, W]`` (float, normalised; ``C`` is 1 or 3; ``H, W >= 8``) gives
``[B]`` for one output or ``[B, outputs]``. Channels-last inputs and bfloat16 autocast work.

Example:
    >>> shape = ImageShape(channels=3, size=32)
    >>> net = build_image_network("resnet", shape, width=8)
    >>> net(image=torch.zeros(2, 3, 32, 32)).shape, net.feature_width
    (torch.Size([2]), 64)
    >>> round(image_cost("resnet", shape, width=8, stem_stride=1) / 1e6, 1)
    8.9
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import nn

from deepfit.errors import ConfigError, DataError

IMAGE_MODELS = ("resnet", "cnn")
IMAGE_CHANNELS = (1, 3)
STEM_STRIDES = (1, 2, 4)
MIN_IMAGE_SIZE = 8
RESNET_STAGES = ((1, 1), (2, 2), (4, 2), (8, 2))  # (multiple of width, stride) per stage
RESNET_BLOCKS_PER_STAGE = 2
CNN_STAGES = (1, 2, 4)  # multiple of width per stage


@dataclass(frozen=True)
class ImageShape:
    """The images a network takes: ``channels`` (1 grayscale, 3 RGB) and the square ``size`` in
    pixels, checked when made.

    Example:
        >>> ImageShape(channels=1, size=28)
        ImageShape(channels=1, size=28)
    """

    channels: int
    size: int

    def __post_init__(self) -> None:
        if self.channels not in IMAGE_CHANNELS:
            raise ConfigError(
                f"channels must be 1 (grayscale) or 3 (RGB), however: channels={self.channels}"
            )
        if self.size < MIN_IMAGE_SIZE:
            raise ConfigError(
                f"size must be at least {MIN_IMAGE_SIZE} pixels, however: size={self.size}"
            )


def stem_kernel(stride: int) -> int:
    """The side of the first convolution's kernel: 3, or 5 for a stride of 4 (a 3x3 kernel at
    stride 4 would skip every fourth row and column).

    Example:
        >>> [stem_kernel(stride) for stride in STEM_STRIDES]
        [3, 3, 5]
    """
    return 3 if stride <= 2 else 5


def _conv(d_in: int, d_out: int, kernel: int, stride: int = 1) -> nn.Conv2d:
    # Padding kernel // 2 makes every convolution map a side of n pixels to ceil(n / stride).
    return nn.Conv2d(d_in, d_out, kernel, stride=stride, padding=kernel // 2, bias=False)


def _conv_norm_relu(d_in: int, d_out: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        OrderedDict(
            conv=_conv(d_in, d_out, kernel, stride),
            norm=nn.BatchNorm2d(d_out),
            relu=nn.ReLU(inplace=True),
        )
    )


def _side(size: int, stride: int) -> int:
    return -(-size // stride)


class BasicBlock(nn.Module):
    """``relu(norm(conv(relu(norm(conv(x))))) + shortcut(x))`` with 3x3 convolutions; the
    shortcut is a 1x1 convolution and batch norm when the stride or the width changes.

    The second norm starts at zero (see :func:`build_image_network`), so the block starts as
    the identity.

    Example:
        >>> BasicBlock(4, 8, stride=2)(torch.zeros(2, 4, 9, 9)).shape
        torch.Size([2, 8, 5, 5])
    """

    def __init__(self, d_in: int, d_out: int, *, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = _conv(d_in, d_out, 3, stride)
        self.norm1 = nn.BatchNorm2d(d_out)
        self.conv2 = _conv(d_out, d_out, 3)
        self.norm2 = nn.BatchNorm2d(d_out)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or d_in != d_out:
            self.shortcut = nn.Sequential(
                OrderedDict(conv=_conv(d_in, d_out, 1, stride), norm=nn.BatchNorm2d(d_out))
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.norm1(self.conv1(x)))
        y = self.norm2(self.conv2(y))
        return self.relu(y + self.shortcut(x))


def _global_pool() -> OrderedDict[str, nn.Module]:
    return OrderedDict(pool=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten(1))


def resnet_backbone(channels: int, *, width: int, stem_stride: int) -> nn.Sequential:
    """The ``"resnet"`` backbone: stem, ``stage1`` to ``stage4``, global average pooling;
    ``[B, channels, H, W]`` in, ``[B, 8 * width]`` out.

    Example:
        >>> resnet_backbone(1, width=4, stem_stride=2)(torch.zeros(2, 1, 16, 16)).shape
        torch.Size([2, 32])
    """
    layers: OrderedDict[str, nn.Module] = OrderedDict(
        stem=_conv_norm_relu(channels, width, stem_kernel(stem_stride), stem_stride)
    )
    d_in = width
    for index, (multiple, stride) in enumerate(RESNET_STAGES, start=1):
        d_out = width * multiple
        blocks = []
        for block in range(RESNET_BLOCKS_PER_STAGE):
            blocks.append(BasicBlock(d_in, d_out, stride=stride if block == 0 else 1))
            d_in = d_out
        layers[f"stage{index}"] = nn.Sequential(*blocks)
    layers.update(_global_pool())
    return nn.Sequential(layers)


def cnn_backbone(channels: int, *, width: int, stem_stride: int) -> nn.Sequential:
    """The ``"cnn"`` backbone: ``stage1`` to ``stage3`` of two convolutions and a 2x2 max pool,
    global average pooling; ``[B, channels, H, W]`` in, ``[B, 4 * width]`` out.

    The pools round up (``ceil_mode``), so a side never falls to zero pixels.

    Example:
        >>> cnn_backbone(3, width=4, stem_stride=4)(torch.zeros(2, 3, 8, 8)).shape
        torch.Size([2, 16])
    """
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    d_in = channels
    for index, multiple in enumerate(CNN_STAGES, start=1):
        d_out = width * multiple
        stride = stem_stride if index == 1 else 1
        kernel = stem_kernel(stride) if index == 1 else 3
        layers[f"stage{index}"] = nn.Sequential(
            OrderedDict(
                first=_conv_norm_relu(d_in, d_out, kernel, stride),
                second=_conv_norm_relu(d_out, d_out, 3),
                pool=nn.MaxPool2d(2, ceil_mode=True),
            )
        )
        d_in = d_out
    layers.update(_global_pool())
    return nn.Sequential(layers)


class ImageNetwork(nn.Module):
    """A ``backbone`` (images to ``[B, feature_width]``), dropout, and a linear ``head``; built
    by :func:`build_image_network`.

    Every backbone parameter and buffer sits under ``backbone.`` in the state dict and the head's
    under ``head.``, so a backbone moves between networks of the same build with
    ``other.backbone.load_state_dict(net.backbone.state_dict())``.
    """

    def __init__(
        self,
        backbone: nn.Module,
        *,
        channels: int,
        feature_width: int,
        outputs: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.channels = channels
        self.feature_width = feature_width
        self.outputs = outputs
        self.backbone = backbone
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(feature_width, outputs)
        self.backbone_frozen = False

    def freeze_backbone(self) -> None:
        """Train only the head from now on: the backbone's weights stop learning and its batch
        norms keep the statistics they have (they stay in evaluation mode)."""
        for parameter in self.backbone.parameters():
            parameter.requires_grad_(False)
        self.backbone_frozen = True
        self.backbone.eval()

    def train(self, mode: bool = True) -> ImageNetwork:
        super().train(mode)
        if self.backbone_frozen:
            self.backbone.eval()
        return self

    def features(self, image: torch.Tensor) -> torch.Tensor:
        """The backbone's output ``[B, feature_width]`` for ``image [B, C, H, W]``."""
        if image.dim() != 4 or image.shape[1] != self.channels:
            raise DataError(
                f"image must be [batch, {self.channels}, height, width], "
                f"however: {list(image.shape)}"
            )
        features: torch.Tensor = self.backbone(image)
        return features

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        output: torch.Tensor = self.head(self.dropout(self.features(image)))
        return output.squeeze(-1) if self.outputs == 1 else output


def _check_build(name: str, shape: ImageShape, *, width: int, stem_stride: int) -> None:
    if name not in IMAGE_MODELS:
        raise ConfigError(f"unknown image model {name!r}; choose one of {', '.join(IMAGE_MODELS)}")
    if width < 1:
        raise ConfigError(f"width must be a positive integer, however: width={width}")
    if stem_stride not in STEM_STRIDES:
        raise ConfigError(f"stem_stride must be 1, 2 or 4, however: stem_stride={stem_stride}")
    if not isinstance(shape, ImageShape):
        raise ConfigError(f"shape must be an ImageShape, however: {shape!r}")


def _initialise(network: ImageNetwork) -> None:
    for module in network.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    for module in network.modules():
        if isinstance(module, BasicBlock):
            nn.init.zeros_(module.norm2.weight)
    nn.init.zeros_(network.head.bias)


def build_image_network(
    name: str,
    shape: ImageShape,
    *,
    width: int = 32,
    stem_stride: int = 1,
    dropout: float = 0.0,
    outputs: int = 1,
) -> ImageNetwork:
    """The image network ``name`` (one of :data:`IMAGE_MODELS`) for images of ``shape``.

    Convolutions start Kaiming-normal, batch norms at one and zero except the last of each
    residual branch, which starts at zero; the head's bias starts at zero.

    Example:
        >>> net = build_image_network("cnn", ImageShape(channels=1, size=28), width=8, outputs=3)
        >>> image = torch.zeros(4, 1, 28, 28)
        >>> net(image=image).shape, net.features(image).shape
        (torch.Size([4, 3]), torch.Size([4, 32]))
    """
    _check_build(name, shape, width=width, stem_stride=stem_stride)
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), however: dropout={dropout}")
    if outputs < 1:
        raise ConfigError(f"outputs must be a positive integer, however: outputs={outputs}")
    if name == "resnet":
        backbone = resnet_backbone(shape.channels, width=width, stem_stride=stem_stride)
        feature_width = width * RESNET_STAGES[-1][0]
    else:
        backbone = cnn_backbone(shape.channels, width=width, stem_stride=stem_stride)
        feature_width = width * CNN_STAGES[-1]
    network = ImageNetwork(
        backbone,
        channels=shape.channels,
        feature_width=feature_width,
        outputs=outputs,
        dropout=dropout,
    )
    _initialise(network)
    return network


def image_cost(name: str, shape: ImageShape, *, width: int, stem_stride: int) -> float:
    """Multiply-accumulates of one forward pass over one image (an estimate used to size the
    network within a time limit: conv and linear layers counted).

    The count is exact for the convolutions and a one-output head; batch norms, activations and
    pools are left out. A training step costs about three times as much (forward and backward).

    Example:
        >>> shape = ImageShape(channels=3, size=64)
        >>> f"{image_cost('resnet', shape, width=32, stem_stride=1):.3g}"
        '5.57e+08'
        >>> f"{image_cost('resnet', shape, width=32, stem_stride=2):.3g}"
        '1.39e+08'
    """
    _check_build(name, shape, width=width, stem_stride=stem_stride)
    kernel = stem_kernel(stem_stride)
    side = _side(shape.size, stem_stride)
    d_in = shape.channels
    macs = 0
    if name == "resnet":
        macs += side * side * d_in * width * kernel * kernel
        d_in = width
        for multiple, stage_stride in RESNET_STAGES:
            d_out = width * multiple
            for block in range(RESNET_BLOCKS_PER_STAGE):
                stride = stage_stride if block == 0 else 1
                side = _side(side, stride)
                macs += side * side * (d_in * d_out + d_out * d_out) * 9
                if stride != 1 or d_in != d_out:
                    macs += side * side * d_in * d_out
                d_in = d_out
    else:
        for index, multiple in enumerate(CNN_STAGES):
            d_out = width * multiple
            first_kernel = kernel if index == 0 else 3
            macs += side * side * (d_in * d_out * first_kernel**2 + d_out * d_out * 9)
            side = _side(side, 2)
            d_in = d_out
    return float(macs + d_in)
