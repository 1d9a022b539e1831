"What a captured step must keep true, checked on the CPU: its warm-up leaves no trace, dropout and a resume included."
import pytest
import torch
from torch import nn

from mnist_course.baseline import BaselineCNN
from mnist_course.resnet import resnet34_mnist
from mnist_course.step import TrainStep, restore, snapshot, train_step


def sgd(model, **kw):
    return torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, **kw)


@pytest.mark.parametrize("opt", [lambda m: torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9, dampening=0.5),
                                 lambda m: torch.optim.RMSprop(m.parameters(), lr=0.01)])
def test_capture_refuses_an_optimizer_whose_zeroed_state_is_not_its_first(opt):
    net = BaselineCNN()
    with pytest.raises(ValueError, match="true initial state"): TrainStep(net, opt(net), nn.CrossEntropyLoss(), graph=True)


def steps(net, opt, batches):
    for x, y in batches: train_step(net, opt, nn.CrossEntropyLoss(), x, y, torch.zeros(2))
    return {k: v.clone() for k, v in net.state_dict().items()}


@pytest.mark.parametrize("resumed", [False, True])
def test_warm_up_then_restore_is_no_warm_up_with_dropout(resumed):
    """The capture's recipe (snapshot, train a few steps, restore) on the report's ResNet with dropout 0.5, fresh or
    resumed: a ResNet10 that downsamples as torchvision's does, for a CPU (the ResNet34's blocks, a tenth the cost)."""
    torch.manual_seed(0)
    x, y = torch.randn(4, 1, 28, 28), torch.arange(4)
    batches = [(x + i / 10, y) for i in range(3)]
    runs = []
    for warm in (True, False):
        torch.manual_seed(1)
        net = resnet34_mnist(layers=(1, 1, 1, 1), stem_stride=2, pool_stride=2)
        opt = sgd(net)
        if resumed:  # a resume: momentum buffers loaded from a checkpoint's optimizer state
            steps(net, opt, batches[:1])
            opt.load_state_dict(opt.state_dict())
        torch.manual_seed(2)  # the RNG dropout draws from, as the loop leaves it
        if warm:
            snap = snapshot(net, opt)
            steps(net, opt, batches)  # the warm-up: it trains, draws dropout masks and makes optimizer state
            restore(net, opt, snap)
        runs.append(steps(net, opt, batches))
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
