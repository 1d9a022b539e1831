"The model lessons' promises: Figure 1's baseline, a builder equal to torchvision's resnet34, one change per keyword."
import pytest
import torch
from torch import nn
from torchvision import models

from mnist_course.baseline import BaselineCNN
from mnist_course.data import normalize
from mnist_course.densenet import densenet, densenet121_mnist
from mnist_course.efficientnet import efficientnet_b0_mnist
from mnist_course.resnet import resnet, resnet34_mnist

FIGURE1 = [("Conv2d", (10, 28, 28), 100), ("ReLU", (10, 28, 28), 0), ("MaxPool2d", (10, 14, 14), 0),
           ("Conv2d", (20, 14, 14), 1_820), ("ReLU", (20, 14, 14), 0), ("MaxPool2d", (20, 7, 7), 0),
           ("Conv2d", (40, 7, 7), 7_240), ("ReLU", (40, 7, 7), 0), ("MaxPool2d", (40, 4, 4), 0),
           ("Linear", (128,), 82_048), ("ReLU", (128,), 0), ("Linear", (10,), 1_290), ("Softmax", (10,), 0)]
STAGES = ("conv1", "maxpool", "layer1", "layer2", "layer3", "layer4", "fc")


def outputs(model: nn.Module, x: torch.Tensor, modules: dict, **kwargs) -> dict:
    "name -> (type, output shape without batch, own parameter count) of `modules`, in the order they ran."
    seen = {}
    def hook(name):
        def record(m, inputs, out):  # returns None: a hook that returns a value would replace the output
            seen.setdefault(name, (type(m).__name__, tuple(out.shape[1:]), sum(p.numel() for p in m.parameters())))
        return record
    handles = [m.register_forward_hook(hook(name)) for name, m in modules.items()]
    try:
        with torch.no_grad(): model.eval()(x, **kwargs)
    finally:
        for h in handles: h.remove()
    return seen


def shapes(sd: dict) -> dict: return {k: tuple(v.shape) for k, v in sd.items()}


@pytest.fixture(scope="module")
def digits(mnist):
    return normalize(mnist.train_x[:6]), mnist.train_y[:6]


@pytest.fixture(scope="module")
def plain():
    torch.manual_seed(0)
    return resnet()


def torchvision_resnet34(seed: int = 0) -> nn.Module:
    "torchvision's resnet34 with 1 input channel and 10 classes, batch-norm statistics randomised."
    torch.manual_seed(seed)
    tv = models.resnet34(num_classes=10)
    tv.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    for m in tv.modules():
        if isinstance(m, nn.BatchNorm2d):
            for t in (m.weight, m.bias, m.running_mean): nn.init.normal_(t.data, 0, 0.2)
            m.running_var.data.uniform_(0.5, 2)
    return tv


# --- the baseline ---------------------------------------------------------------------------------

def test_baseline_is_figure1_layer_for_layer(digits):
    model = BaselineCNN()
    leaves = {n: m for n, m in model.named_modules() if not any(m.children())}
    assert list(outputs(model, digits[0], leaves, proba=True).values()) == FIGURE1
    assert sum(p.numel() for p in model.parameters()) == 92_498


def test_baseline_pools_round_up(digits):
    "The last max pool turns 7x7 into 4x4 (Keras 'same'): the last row and column are a window of their own."
    pool = BaselineCNN().features[-1]
    x = torch.zeros(1, 1, 7, 7)
    x[..., 6, 6] = 5.0
    assert pool(x).shape == (1, 1, 4, 4) and pool(x)[..., 3, 3].item() == 5.0


# --- ResNet: defaults are torchvision's -----------------------------------------------------------

def test_defaults_are_torchvision_resnet34(plain, digits):
    tv = torchvision_resnet34()
    assert list(shapes(plain.state_dict()).items()) == list(shapes(tv.state_dict()).items())
    plain.load_state_dict(tv.state_dict())
    x = digits[0]
    with torch.no_grad():
        torch.testing.assert_close(plain.eval()(x), tv.eval()(x))     # running statistics
        torch.testing.assert_close(plain.train()(x), tv.train()(x))   # batch statistics; dropout 0 is a no-op
    plain.eval()


def test_in_chans_3_is_torchvision_resnet34_exactly():
    ours, tv = resnet(in_chans=3, num_classes=1000), models.resnet34()
    assert shapes(ours.state_dict()) == shapes(tv.state_dict())
    assert ours.in_chans == 3


# --- ResNet: each keyword changes exactly what it says --------------------------------------------

def stage_outputs(model, x):
    return {n: s for n, (_, s, _) in outputs(model, x, {n: getattr(model, n) for n in STAGES}).items()}


def test_stem_changes_only_the_stem_conv(plain, digits):
    m = resnet(stem_kernel=5, stem_stride=1, stem_padding=1)
    a, b = shapes(plain.state_dict()), shapes(m.state_dict())
    assert {k for k in a if a[k] != b[k]} == {"conv1.weight"} and a.keys() == b.keys()
    assert b["conv1.weight"] == (64, 1, 5, 5)
    assert [stage_outputs(x, digits[0])["conv1"] for x in (plain, m)] == [(64, 14, 14), (64, 26, 26)]


@pytest.mark.parametrize("padding, side", [(1, 14), (0, 12)])
def test_pool_stride_changes_no_parameter(plain, digits, padding, side):
    m = resnet(pool_stride=1, pool_padding=padding)
    assert shapes(m.state_dict()) == shapes(plain.state_dict())
    assert (m.maxpool.kernel_size, m.maxpool.stride, m.maxpool.padding) == (3, 1, padding)
    assert stage_outputs(m, digits[0])["maxpool"] == (64, side, side)   # was 7: the stem conv still halves 28


def test_project_all_adds_13_projections_and_nothing_else(plain, digits):
    m = resnet(project_all=True)
    a, b = shapes(plain.state_dict()), shapes(m.state_dict())
    assert all(b[k] == v for k, v in a.items())
    new = {k.split(".downsample")[0] for k in b.keys() - a.keys()}
    blocks = {f"layer{s}.{i}" for s, n in zip(range(1, 5), (3, 4, 6, 3)) for i in range(1 if s > 1 else 0, n)}
    assert new == blocks and len(new) == 13
    assert all(k.split(".downsample")[1] in {".0.weight", ".1.weight", ".1.bias", ".1.running_mean", ".1.running_var",
                                             ".1.num_batches_tracked"} for k in b.keys() - a.keys())
    added = sum(p.numel() for p in m.parameters()) - sum(p.numel() for p in plain.parameters())
    assert added == sum(n * (c * c + 2 * c) for n, c in zip((3, 3, 5, 2), (64, 128, 256, 512))) == 919_168
    assert stage_outputs(m, digits[0]) == stage_outputs(plain, digits[0])
    assert m.layer1[0].downsample[0].stride == (1, 1) and m.layer2[1].downsample[0].kernel_size == (1, 1)


def test_dropout_changes_only_training_outputs(plain, digits):
    m = resnet(dropout=0.5)
    assert shapes(m.state_dict()) == shapes(plain.state_dict())
    m.load_state_dict(plain.state_dict())
    x = digits[0]
    with torch.no_grad():
        torch.testing.assert_close(m.eval()(x), plain.eval()(x))
        m.train()
        assert not torch.equal(m(x), m(x))
    assert m.dropout.p == 0.5 and plain.dropout.p == 0.0


def test_resnet34_mnist_is_all_four_and_takes_overrides(digits):
    m = resnet34_mnist()
    assert (m.conv1.kernel_size, m.conv1.stride, m.conv1.padding) == ((5, 5), (1, 1), (1, 1))
    assert (m.maxpool.stride, m.maxpool.padding, m.dropout.p) == (1, 1, 0.5)
    assert all(b.downsample is not None for s in (m.layer1, m.layer2, m.layer3, m.layer4) for b in s)
    assert sum(p.numel() for p in m.parameters()) == 22_201_162
    assert stage_outputs(m, digits[0]) == {"conv1": (64, 26, 26), "maxpool": (64, 26, 26), "layer1": (64, 26, 26),
                                           "layer2": (128, 13, 13), "layer3": (256, 7, 7), "layer4": (512, 4, 4),
                                           "fc": (10,)}
    assert resnet34_mnist(stem_kernel=3).conv1.kernel_size == (3, 3)
    with pytest.raises(TypeError, match="stem_size"): resnet34_mnist(stem_size=3)
    with pytest.raises(ValueError, match="four positive block counts"): resnet(layers=(3, 4, 6))


# --- both models: training works, errors are clear, probabilities are probabilities ---------------

MODELS = {"baseline": BaselineCNN, "resnet34_mnist": resnet34_mnist, "densenet121_mnist": densenet121_mnist,
          "efficientnet_b0_mnist": efficientnet_b0_mnist}


@pytest.mark.parametrize("name", MODELS)
def test_forward_backward_on_cpu(name, digits):
    torch.manual_seed(0)
    model = MODELS[name]().train()
    x, y = digits
    logits = model(x)
    assert logits.shape == (6, 10)
    nn.CrossEntropyLoss()(logits, y).backward()
    assert all(p.grad is not None and p.grad.isfinite().all() for p in model.parameters())
    with torch.no_grad():
        probs = model.eval().predict_proba(x)
        torch.testing.assert_close(probs.sum(1), torch.ones(6))
        torch.testing.assert_close(probs, model(x).softmax(1))
    assert isinstance(model.softmax, nn.Softmax)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("bad, error, message", [
    (torch.zeros(2, 28, 28), ValueError, r"expected images shaped \(B, 1, .*got \(2, 28, 28\).*unsqueeze\(1\)"),
    (torch.zeros(2, 3, 28, 28), ValueError, r"expected images shaped \(B, 1, .*got \(2, 3, 28, 28\)"),
    (torch.zeros(2, 1, 28, 28, dtype=torch.uint8), TypeError, "normalize"),
])
def test_wrong_input_is_refused_clearly(name, bad, error, message):
    with pytest.raises(error, match=message): MODELS[name]()(bad)


def test_baseline_wants_28x28_resnet_any_size():
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\), got \(2, 1, 32, 32\)"): BaselineCNN()(torch.zeros(2, 1, 32, 32))
    assert resnet(layers=(1, 1, 1, 1)).eval()(torch.zeros(2, 1, 32, 32)).shape == (2, 10)


# --- DenseNet121 (lesson 06): torchvision's with its defaults, the report's stem changes otherwise ---------------

def test_densenet_defaults_are_torchvision_densenet121():
    "Same names and shapes, same output for the same weights (on 64x64 digits: torchvision's stem cannot take 28x28)."
    torch.manual_seed(0)
    tv = models.densenet121(num_classes=10)
    tv.features.conv0 = nn.Conv2d(1, 64, 7, 2, 3, bias=False)
    for m in tv.modules():
        if isinstance(m, nn.BatchNorm2d): nn.init.normal_(m.running_mean, 0, 0.2); m.running_var.data.uniform_(0.5, 2)
    ours = densenet()
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [(k, v.shape) for k, v in tv.state_dict().items()]
    ours.load_state_dict(tv.state_dict())
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad(): torch.testing.assert_close(ours.eval()(x), tv.eval()(x))
    with pytest.raises(RuntimeError, match="Output size is too small"), torch.no_grad(): tv(torch.randn(2, 1, 28, 28))


def test_densenet121_mnist_keeps_the_digit_big():
    "The report's stem changes (5x5/1/1 conv, pool stride 1): the last dense block sees 3x3 maps, only the stem's weights differ."
    m = densenet121_mnist()
    seen = outputs(m, torch.zeros(1, 1, 28, 28), {n: getattr(m.features, n) for n in ("conv0", "pool0", "denseblock4")})
    assert [v[1] for v in seen.values()] == [(64, 26, 26), (64, 26, 26), (1024, 3, 3)]
    n = lambda net: sum(p.numel() for p in net.parameters())
    assert n(m) - n(densenet()) == 64 * (25 - 49)
    assert m.in_chans == 1 and densenet(in_chans=3).in_chans == 3
