"EfficientNet-B0 (lesson 07): torchvision's at its defaults, its stem at stride 1 for digits, trainable by name."
import pytest
import torch
from torch import nn
from torchvision import models

from mnist_course.checkpoint import MODELS
from mnist_course.config import make_config
from mnist_course.efficientnet import efficientnet, efficientnet_b0_mnist
from mnist_course.train import fit
from test_models import outputs, shapes


def n_params(model: nn.Module) -> int: return sum(p.numel() for p in model.parameters())


def test_defaults_are_torchvision_efficientnet_b0():
    "Same names and shapes, same outputs for the same weights on a 28x28 batch (torchvision's stem takes one)."
    torch.manual_seed(0)
    tv = models.efficientnet_b0(weights=None, num_classes=10)
    tv.features[0][0] = nn.Conv2d(1, 32, 3, 2, 1, bias=False)
    for m in tv.modules():
        if isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.running_mean, 0, 0.2)
            m.running_var.data.uniform_(0.5, 2)
    ours = efficientnet()
    assert list(shapes(ours.state_dict()).items()) == list(shapes(tv.state_dict()).items())
    ours.load_state_dict(tv.state_dict())
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad(): torch.testing.assert_close(ours.eval()(x), tv.eval()(x))
    assert shapes(efficientnet(in_chans=3, num_classes=1000).state_dict()) == shapes(models.efficientnet_b0().state_dict())


def test_multipliers_give_torchvision_b2():
    "Compound scaling: B2 is B0 with width 1.1 and depth 1.2 (and dropout 0.3, which holds no weights)."
    b2 = efficientnet(width_mult=1.1, depth_mult=1.2, in_chans=3, num_classes=1000)
    assert shapes(b2.state_dict()) == shapes(models.efficientnet_b2().state_dict())


def test_efficientnet_b0_mnist_keeps_the_digit_whole():
    "Stride 1 in the stem: 28x28 into the first block, 2x2 at the last stage; only the stem's input channels differ."
    m = efficientnet_b0_mnist()
    seen = outputs(m, torch.zeros(3, 1, 28, 28), {str(i): m.features[i] for i in range(9)})
    assert [s[1][-1] for s in seen.values()] == [28, 28, 14, 7, 4, 4, 2, 2, 2]
    assert seen["0"][1] == (32, 28, 28) and m.features[0][0].stride == (1, 1) and m.in_chans == 1
    with torch.no_grad(): assert m.eval()(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    tv = models.efficientnet_b0(weights=None, num_classes=10)
    assert n_params(m) == n_params(tv) - 32 * 3 * 3 * (3 - 1)  # torchvision's stem takes 3 channels, ours 1
    assert efficientnet_b0_mnist(stem_stride=2).features[0][0].stride == (2, 2)
    assert MODELS["efficientnet_b0"] is efficientnet_b0_mnist


def test_classifier_starts_at_resnet34s_scale():
    "torchvision's rule (within 1/sqrt(classes)) is made for 1,000 classes; the course's digits start as ResNet34's fc."
    torch.manual_seed(0)
    ours, tv = efficientnet_b0_mnist().classifier[1].weight, efficientnet().classifier[1].weight
    assert ours.abs().max() <= 1280 ** -0.5 < tv.abs().max() <= 10 ** -0.5
    with pytest.raises(ValueError, match="classifier_init must be .*got 'zeros'"): efficientnet(classifier_init="zeros")


def test_tiny_cpu_run_through_fit_learns(mnist):
    """The registered name with the quick preset, 32 steps of 32 digits on the CPU: the loss falls and the training
    accuracy beats chance (validation's running batch-norm averages lag after so few steps: lesson 07)."""
    cfg = make_config("efficientnet_b0", "quick", epochs=2, samples_per_epoch=512, bs=32, train_subset=1_000,
                      eval_subset=200, device="cpu")
    m = fit(cfg, mnist)
    first, last = m["history"]
    assert last["train_loss"] < first["train_loss"] and last["train_acc"] > 0.2, m["history"]  # chance: 0.1
