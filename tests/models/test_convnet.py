import pytest
import torch
from torch import nn

from deepfit.errors import ConfigError, DataError
from deepfit.models.convnet import (
    IMAGE_MODELS,
    BasicBlock,
    ImageShape,
    build_image_network,
    image_cost,
)


def _network(name, shape, *, seed=0, **options):
    torch.manual_seed(seed)
    return build_image_network(name, shape, **options)


def _images(shape, batch=4, seed=0, size=None):
    generator = torch.Generator().manual_seed(seed)
    side = size or shape.size
    return torch.randn(batch, shape.channels, side, side, generator=generator)


def _with_random_norms(network, seed=1):
    """The network with every batch norm's affine weights and running statistics drawn at
    random, in eval mode: a freshly built one has zeroed residual branches and unit statistics,
    which would hide differences in the layers behind them."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, nn.BatchNorm2d):
                size = module.num_features
                module.weight.copy_(0.5 + torch.rand(size, generator=generator))
                module.bias.copy_(0.2 * torch.randn(size, generator=generator))
                module.running_mean.copy_(0.2 * torch.randn(size, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(size, generator=generator))
    return network.eval()


def _counted_macs(network, image):
    """Multiply-accumulates per image of the network's conv and linear layers, from hooks."""
    counts = []

    def count(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            per_output = module.in_channels // module.groups * module.weight[0, 0].numel()
            counts.append(output[0].numel() * per_output)
        else:
            counts.append(module.in_features * module.out_features)

    handles = [
        module.register_forward_hook(count)
        for module in network.modules()
        if isinstance(module, nn.Conv2d | nn.Linear)
    ]
    with torch.no_grad():
        network.eval()(image=image)
    for handle in handles:
        handle.remove()
    return sum(counts)


@pytest.mark.parametrize("name", IMAGE_MODELS)
@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("outputs", [1, 3])
def test_output_shapes(name, size, channels, outputs):
    shape = ImageShape(channels=channels, size=size)
    network = _network(name, shape, width=4, outputs=outputs)
    image = _images(shape, batch=2)
    expected = (2,) if outputs == 1 else (2, outputs)
    assert network(image=image).shape == expected
    assert network.features(image).shape == (2, network.feature_width)


@pytest.mark.parametrize("name", IMAGE_MODELS)
@pytest.mark.parametrize("stem_stride", [1, 2, 4])
def test_any_size_from_eight_pixels_up(name, stem_stride):
    network = _network(name, ImageShape(channels=1, size=32), width=4, stem_stride=stem_stride)
    for size in (8, 13, 48):
        output = network(image=torch.randn(2, 1, size, size))
        assert output.shape == (2,)
        assert torch.isfinite(output).all()
    assert network(image=torch.randn(2, 1, 9, 20)).shape == (2,)


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_state_dict_splits_into_backbone_and_head(name):
    network = _network(name, ImageShape(channels=3, size=32), width=4, outputs=3, dropout=0.2)
    keys = list(network.state_dict())
    assert {key.split(".")[0] for key in keys} == {"backbone", "head"}
    assert [key for key in keys if key.startswith("head.")] == ["head.weight", "head.bias"]
    assert network.head.in_features == network.feature_width
    assert network.dropout.p == 0.2
    assert not any(isinstance(module, nn.Linear) for module in network.backbone.modules())


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_backbone_moves_between_networks_of_the_same_build(name):
    shape = ImageShape(channels=3, size=32)
    source = _with_random_norms(_network(name, shape, width=4, stem_stride=2, seed=0))
    target = _network(name, shape, width=4, stem_stride=2, outputs=3, seed=1).eval()
    head = {key: value.clone() for key, value in target.head.state_dict().items()}
    image = _images(shape)
    assert not torch.allclose(source.features(image), target.features(image))

    target.backbone.load_state_dict(source.backbone.state_dict())

    assert torch.equal(source.features(image), target.features(image))
    for key, value in target.head.state_dict().items():
        assert torch.equal(value, head[key])
    assert target(image=image).shape == (4, 3)


def test_resnet_is_the_resnet18_layout():
    width = 8
    network = _network("resnet", ImageShape(channels=3, size=32), width=width)
    blocks = [module for module in network.backbone.modules() if isinstance(module, BasicBlock)]
    assert len(blocks) == 8
    assert [block.conv2.out_channels for block in blocks] == [
        width * multiple for multiple in (1, 1, 2, 2, 4, 4, 8, 8)
    ]
    assert [block.conv1.stride[0] for block in blocks] == [1, 1, 2, 1, 2, 1, 2, 1]
    projections = [not isinstance(block.shortcut, nn.Identity) for block in blocks]
    assert projections == [False, False, True, False, True, False, True, False]
    assert network.feature_width == 8 * width
    stem = network.backbone.stem.conv
    assert (stem.kernel_size, stem.stride) == ((3, 3), (1, 1))
    assert not any(isinstance(m, nn.MaxPool2d) for m in network.backbone.modules())
    # The CIFAR ResNet-18 (width 64, ten outputs) has 11,173,962 parameters.
    cifar = _network("resnet", ImageShape(channels=3, size=32), width=64, outputs=10)
    assert sum(parameter.numel() for parameter in cifar.parameters()) == 11_173_962


def test_cnn_layout():
    network = _network("cnn", ImageShape(channels=1, size=28), width=8, stem_stride=2)
    convs = [module for module in network.backbone.modules() if isinstance(module, nn.Conv2d)]
    assert [conv.out_channels for conv in convs] == [8, 8, 16, 16, 32, 32]
    assert [conv.stride[0] for conv in convs] == [2, 1, 1, 1, 1, 1]
    assert sum(isinstance(m, nn.MaxPool2d) for m in network.backbone.modules()) == 3
    assert network.feature_width == 32


def test_resnet_initialisation_makes_each_block_an_identity():
    network = _network("resnet", ImageShape(channels=3, size=32), width=4)
    blocks = [module for module in network.backbone.modules() if isinstance(module, BasicBlock)]
    assert all(torch.all(block.norm2.weight == 0) for block in blocks)
    assert torch.all(network.head.bias == 0)
    block = blocks[1]  # identity shortcut
    x = torch.relu(torch.randn(2, 4, 8, 8))
    with torch.no_grad():
        assert torch.allclose(block(x), x)


@pytest.mark.parametrize("name", IMAGE_MODELS)
@pytest.mark.parametrize("stem_stride", [1, 2, 4])
def test_image_cost_counts_the_conv_and_linear_layers(name, stem_stride):
    shape = ImageShape(channels=3, size=28)
    network = _network(name, shape, width=4, stem_stride=stem_stride)
    counted = _counted_macs(network, _images(shape, batch=1))
    assert image_cost(name, shape, width=4, stem_stride=stem_stride) == counted


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_image_cost_scales_with_size_width_and_stride(name):
    def cost(size=32, width=16, stem_stride=1):
        shape = ImageShape(channels=3, size=size)
        return image_cost(name, shape, width=width, stem_stride=stem_stride)

    assert 3.6 < cost(size=64) / cost(size=32) < 4.4
    assert 3.6 < cost(size=128) / cost(size=64) < 4.4
    assert 3.5 < cost(width=32) / cost(width=16) < 4.1
    assert cost(stem_stride=4) < cost(stem_stride=2) < 0.35 * cost(stem_stride=1)
    assert cost(width=32, size=64) > 1e8


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: build_image_network("vgg", ImageShape(3, 32)), "resnet, cnn"),
        (lambda: build_image_network("resnet", ImageShape(3, 32), width=0), "width=0"),
        (lambda: build_image_network("cnn", ImageShape(3, 7)), "size=7"),
        (lambda: build_image_network("cnn", ImageShape(2, 32)), "channels=2"),
        (lambda: build_image_network("cnn", ImageShape(3, 32), stem_stride=3), "stem_stride=3"),
        (lambda: build_image_network("cnn", ImageShape(3, 32), dropout=1.0), "dropout=1.0"),
        (lambda: build_image_network("cnn", ImageShape(3, 32), outputs=0), "outputs=0"),
        (lambda: image_cost("vit", ImageShape(3, 32), width=8, stem_stride=1), "resnet, cnn"),
        (lambda: image_cost("cnn", ImageShape(3, 32), width=-1, stem_stride=1), "width=-1"),
        (lambda: image_cost("cnn", ImageShape(3, 32), width=8, stem_stride=8), "stem_stride=8"),
    ],
)
def test_bad_arguments_raise_a_one_line_value_error(make, message):
    with pytest.raises(ValueError, match=message) as caught:
        make()
    assert isinstance(caught.value, ConfigError)
    assert "\n" not in str(caught.value)


def test_image_of_the_wrong_channels_raises():
    network = _network("cnn", ImageShape(channels=3, size=16), width=4)
    with pytest.raises(DataError, match=r"\[batch, 3, height, width\]"):
        network(image=torch.zeros(2, 1, 16, 16))


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_a_tiny_network_learns_mean_brightness(name):
    generator = torch.Generator().manual_seed(0)
    brightness = torch.rand(256, 1, 1, 1, generator=generator)
    images = brightness + 0.5 * torch.randn(256, 1, 12, 12, generator=generator)
    target = images.mean(dim=(1, 2, 3))
    target = (target - target.mean()) / target.std()
    train, valid = slice(0, 192), slice(192, 256)
    network = _network(name, ImageShape(channels=1, size=12), width=8)
    optimiser = torch.optim.AdamW(network.parameters(), lr=3e-3)

    def valid_loss():
        with torch.no_grad():
            network.eval()
            loss = nn.functional.mse_loss(network(image=images[valid]), target[valid])
            network.train()
        return loss.item()

    before = valid_loss()
    batches = torch.randperm(192, generator=generator).repeat(3)
    for step in range(100):
        rows = batches[(step * 32) % 576 :][:32]
        loss = nn.functional.mse_loss(network(image=images[train][rows]), target[train][rows])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    after = valid_loss()
    assert after < 0.2 * before
    assert after < 0.2


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_channels_last_and_bfloat16_autocast_match_float32(name):
    shape = ImageShape(channels=3, size=32)
    network = _with_random_norms(_network(name, shape, width=8))
    image = _images(shape, batch=4)
    with torch.no_grad():
        reference = network(image=image)
        network = network.to(memory_format=torch.channels_last)
        last = image.contiguous(memory_format=torch.channels_last)
        channels_last = network(image=last)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bfloat16 = network(image=last)
    scale = reference.abs().max()
    assert torch.allclose(channels_last, reference, atol=1e-4 * scale, rtol=1e-4)
    assert bfloat16.dtype == torch.bfloat16
    assert torch.allclose(bfloat16.float(), reference, atol=0.05 * scale, rtol=0.05)


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_training_step_under_channels_last_and_autocast(name):
    shape = ImageShape(channels=3, size=16)
    network = _network(name, shape, width=4, outputs=2).to(memory_format=torch.channels_last)
    image = _images(shape, batch=8).contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output = network(image=image)
    loss = output.float().square().mean()
    loss.backward()
    gradients = [p.grad for p in network.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in gradients)
