"The augmentation lesson's promises: Keras' own images, one transform per image, seeded, labels kept, clear errors."
import numpy as np
import pytest
import torch
from keras_preprocessing.image import apply_affine_transform

from mnist_course.augment import AFFINE_PARAMS, AugmentedStream, apply_affine, random_affine, sample_affine
from mnist_course.data import normalize

# keras_preprocessing 1.1.2 calls scipy through a namespace scipy deprecates; the call itself is what we test against
pytestmark = pytest.mark.filterwarnings("ignore:Please import `affine_transform`:DeprecationWarning")

# The report's extremes: ±10 degrees, ±10% of 28 pixels, zoom 0.9 to 1.1.
CASES = {
    "identity": {},
    "angle +10": dict(angle=10.), "angle -10": dict(angle=-10.), "angle 37.5": dict(angle=37.5),
    "shift_x +2.8": dict(shift_x=2.8), "shift_x -2.8": dict(shift_x=-2.8),
    "shift_y +2.8": dict(shift_y=2.8), "shift_y -2.8": dict(shift_y=-2.8), "shift_x 1.37": dict(shift_x=1.37),
    "zoom_x 0.9": dict(zoom_x=0.9), "zoom_x 1.1": dict(zoom_x=1.1),
    "zoom_y 0.9": dict(zoom_y=0.9), "zoom_y 1.1": dict(zoom_y=1.1),
    "all max": dict(angle=10., shift_x=2.8, shift_y=2.8, zoom_x=1.1, zoom_y=1.1),
    "all min": dict(angle=-10., shift_x=-2.8, shift_y=-2.8, zoom_x=0.9, zoom_y=0.9),
    "mixed": dict(angle=-6.3, shift_x=1.9, shift_y=-0.4, zoom_x=0.93, zoom_y=1.08),
    "far out (fill)": dict(angle=30., shift_x=9., shift_y=-7., zoom_x=1.6, zoom_y=0.5),
}


def keras(x: torch.Tensor, angle=0., shift_x=0., shift_y=0., zoom_x=1., zoom_y=1.) -> torch.Tensor:
    "The oracle: Keras' apply_affine_transform image by image (channels last), with our names mapped to its own."
    to_keras = lambda img: img.permute(1, 2, 0).double().numpy()
    out = [apply_affine_transform(to_keras(img), theta=float(angle), tx=float(shift_y), ty=float(shift_x),
                                  zx=float(zoom_y), zy=float(zoom_x), row_axis=0, col_axis=1, channel_axis=2,
                                  fill_mode="nearest", order=1) for img in x]
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).to(x.dtype)


@pytest.fixture(scope="module")
def digits(mnist) -> torch.Tensor:
    "32 real training digits as floats in [0, 1], (32, 1, 28, 28)."
    return mnist.train_x[:32, None].float() / 255


@pytest.mark.parametrize("case", CASES)
def test_matches_keras(digits, case):
    torch.testing.assert_close(apply_affine(digits, **CASES[case]), keras(digits, **CASES[case]), atol=1e-5, rtol=0)


def test_matches_keras_per_image_with_random_parameters(digits):
    p = sample_affine(len(digits), torch.Generator().manual_seed(0))
    ours = random_affine(digits, torch.Generator().manual_seed(0))
    want = torch.cat([keras(digits[i:i + 1], **{k: p[k][i] for k in AFFINE_PARAMS}) for i in range(len(digits))])
    torch.testing.assert_close(ours, want, atol=1e-5, rtol=0)


def test_matches_keras_on_non_square_colour_images():
    x = torch.rand(2, 3, 20, 32, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    p = dict(angle=7., shift_x=3.3, shift_y=-1.2, zoom_x=1.05, zoom_y=0.92)
    torch.testing.assert_close(apply_affine(x, **p), keras(x, **p), atol=1e-9, rtol=0)


def test_identity_returns_input(digits):
    torch.testing.assert_close(apply_affine(digits), digits, atol=1e-5, rtol=0)
    x64 = digits.double()
    torch.testing.assert_close(apply_affine(x64), x64, atol=1e-12, rtol=0)


@pytest.mark.parametrize("shift, where", [(dict(shift_x=3), (10, 9)), (dict(shift_x=-4), (10, 16)),
                                          (dict(shift_y=2), (8, 12)), (dict(shift_x=1, shift_y=-5), (15, 11))])
def test_known_shift_moves_known_pixel(shift, where):
    dot = torch.zeros(1, 1, 28, 28, dtype=torch.float64)
    dot[0, 0, 10, 12] = 1  # row 10, column 12; positive shifts read further right/down: the content moves left/up
    out = apply_affine(dot, **shift)[0, 0]
    assert out[where] == pytest.approx(1, abs=1e-9) and out.sum() == pytest.approx(1, abs=1e-9)


def test_fractional_shift_moves_centre_of_mass_continuously():
    dot = torch.zeros(1, 1, 28, 28, dtype=torch.float64)
    dot[0, 0, 13, 13] = 1
    out = apply_affine(dot, shift_x=1.25, shift_y=-0.5)[0, 0]
    rows, cols = torch.meshgrid(torch.arange(28.), torch.arange(28.), indexing="ij")
    assert float((out * cols).sum()) == pytest.approx(13 - 1.25) and float((out * rows).sum()) == pytest.approx(13.5)


def test_rotation_direction_matches_keras():
    dot = torch.zeros(1, 1, 28, 28)
    dot[0, 0, 5, 20] = 1  # above and right of the centre
    ours, theirs = apply_affine(dot, angle=30.)[0, 0], keras(dot, angle=30.)[0, 0]
    (r, c), (kr, kc) = divmod(int(ours.argmax()), 28), divmod(int(theirs.argmax()), 28)
    assert (r, c) == (kr, kc) and r > 5 and c > 20  # moved clockwise on screen, like Keras


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shape_dtype_device_preserved(digits, dtype):
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        x = digits[:5].to(device, dtype)
        for out in (apply_affine(x, angle=3.), random_affine(x, torch.Generator(device=device).manual_seed(0))):
            assert out.shape == x.shape and out.dtype == dtype and out.device == x.device


def test_parameters_per_image_or_shared(digits):
    x = digits[:4]
    shared = apply_affine(x, angle=5., zoom_x=1.1)
    per_image = apply_affine(x, angle=torch.full((4,), 5.), zoom_x=torch.full((4,), 1.1))
    torch.testing.assert_close(shared, per_image)
    mixed = apply_affine(x, angle=torch.tensor([0., 10., 0., -10.]))
    torch.testing.assert_close(mixed[0], x[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(mixed[1:2], apply_affine(x[1:2], angle=10.))


def test_sample_affine_ranges_and_independence():
    p = sample_affine(20_000, torch.Generator().manual_seed(0), rotation=5, zoom=0.2, width_shift=0.1,
                      height_shift=0.05, size=(20, 40))
    bounds = dict(angle=5, shift_x=4, shift_y=1, zoom_x=0.2, zoom_y=0.2)
    for k, b in bounds.items():
        centre = 1 if k.startswith("zoom") else 0
        assert p[k].shape == (20_000,) and (p[k] - centre).abs().max() <= b + 1e-6
        assert (p[k] - centre).abs().max() > 0.99 * b  # the whole range is used
    assert not torch.equal(p["zoom_x"], p["zoom_y"]) and abs(float(torch.corrcoef(torch.stack([p["zoom_x"], p["zoom_y"]]))[0, 1])) < 0.03


def test_determinism_by_seed(digits):
    g = lambda s: torch.Generator().manual_seed(s)
    assert torch.equal(random_affine(digits, g(7)), random_affine(digits, g(7)))
    assert not torch.equal(random_affine(digits, g(7)), random_affine(digits, g(8)))


def test_each_image_gets_its_own_transform(digits):
    same = digits[:1].expand(16, -1, -1, -1)
    out = random_affine(same, torch.Generator().manual_seed(0))
    assert len({tuple(im.flatten().tolist()) for im in out}) == 16


def test_stream_shapes_len_and_usage(mnist):
    x, y = mnist.train_x[:1000], mnist.train_y[:1000]
    stream = AugmentedStream(x, y, n_per_epoch=2_350, bs=100)
    batches = list(stream)
    assert len(stream) == len(batches) == 24
    assert [len(yb) for _, yb in batches] == [100] * 23 + [50]
    assert batches[0][0].shape == (100, 1, 28, 28) and batches[0][0].dtype == torch.float32
    ids = torch.arange(1000)  # a stream of indices shows which images an epoch uses
    used = torch.bincount(torch.cat([yb for _, yb in AugmentedStream(ids, ids, 2_350, 500, tfm=lambda t: t,
                                                                     augment=False)]), minlength=1000)
    assert set(used.tolist()) == {2, 3} and int(used.sum()) == 2_350


def test_stream_labels_untouched(mnist):
    y = mnist.train_y[:3000]
    flat = (y[:, None, None] * 20).to(torch.uint8).expand(-1, 28, 28)  # each image a constant grey = 20 x its label
    stream = AugmentedStream(flat, y, n_per_epoch=3000, bs=256, tfm=lambda t: t.float()[:, None])
    for xb, yb in stream:
        assert torch.equal((xb / 20).round().long().amin((1, 2, 3)), yb)
        assert torch.equal((xb / 20).round().long().amax((1, 2, 3)), yb)


def test_stream_augments_and_can_be_switched_off(mnist):
    x, y = mnist.train_x[:500], mnist.train_y[:500]
    (plain, yb), = AugmentedStream(x, y, 500, 500, augment=False)
    (aug, yb2), = AugmentedStream(x, y, 500, 500)
    assert torch.equal(yb, yb2)  # same seed: the same images, in the same order
    assert torch.equal(plain, normalize(x[_order(x, y)]))
    assert (aug - plain).abs().amax((1, 2, 3)).min() > 0.1  # every image changed


def _order(x, y) -> torch.Tensor:
    "The indices of the first epoch of an AugmentedStream over (x, y) with seed 0."
    return AugmentedStream(x, y, len(x), len(x)).epoch_indices()


def test_stream_determinism_and_epoch_replay(mnist):
    x, y = mnist.train_x[:2000], mnist.train_y[:2000]
    one, two = AugmentedStream(x, y, 1000, 250, seed=3), AugmentedStream(x, y, 1000, 250, seed=3)
    epoch = lambda s: [xb for xb, _ in s]
    assert all(torch.equal(a, b) for a, b in zip(epoch(one), epoch(two)))  # same seed, same epoch
    state = one.gen.get_state()  # saved at an epoch boundary, as a trainer's checkpoint would
    second = epoch(one)
    one.gen.set_state(state)
    assert all(torch.equal(a, b) for a, b in zip(second, epoch(one)))  # replayed exactly
    assert not any(torch.equal(a, b) for a, b in zip(second, epoch(one)))  # and the next epoch is new


@pytest.mark.parametrize("call, error, match", [
    (lambda x: apply_affine(x, zoom_x=-1.1), ValueError, "zoom_x must be > 0"),
    (lambda x: apply_affine(x, zoom_y=torch.tensor([1., 0.] * 4)), ValueError, "zoom_y must be > 0"),
    (lambda x: apply_affine(x[0]), ValueError, r"expects a batch \(B, C, H, W\), got shape \(1, 28, 28\)"),
    (lambda x: apply_affine(x[:, 0]), ValueError, "x\\[:, None\\] for grey images"),
    (lambda x: apply_affine((x * 255).to(torch.uint8)), TypeError, "float images, got torch.uint8: convert first"),
    (lambda x: apply_affine(x.numpy()), TypeError, "expects a torch.Tensor, got ndarray"),
    (lambda x: apply_affine(x, angle=torch.zeros(3)), ValueError, r"angle must be a number or have shape \(8,\)"),
    (lambda x: random_affine(x.long(), torch.Generator()), TypeError, "random_affine expects float images"),
    (lambda x: sample_affine(4, torch.Generator(), zoom=(1.1, 0.9)), ValueError, "0 < low <= high"),
    (lambda x: sample_affine(4, torch.Generator(), zoom=-0.1), ValueError, "0 < low <= high"),
    (lambda x: sample_affine(4, torch.Generator(), rotation=-10), ValueError, "rotation must be >= 0"),
    (lambda x: sample_affine(4, torch.Generator(), height_shift=2), ValueError, "height_shift must be a fraction"),
    (lambda x: AugmentedStream(x, torch.zeros(8), n_per_epoch=0), ValueError, "n_per_epoch must be at least 1"),
    (lambda x: AugmentedStream(x, torch.zeros(8), bs=0), ValueError, "batch size must be positive"),
    (lambda x: AugmentedStream(x, torch.zeros(7)), ValueError, "x has 8 items but y has 7"),
    (lambda x: AugmentedStream(x[:0], torch.zeros(0)), ValueError, "x is empty"),
    (lambda x: AugmentedStream(x, torch.zeros(8), width_shift=1.5), ValueError, "width_shift must be a fraction"),
])
def test_bad_arguments_get_clear_errors(digits, call, error, match):
    with pytest.raises(error, match=match):
        call(digits[:8])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU: a CPU generator for CUDA parameters")
def test_cuda_generator_on_the_wrong_device():
    with pytest.raises(ValueError, match="create it with torch.Generator"):
        sample_affine(4, torch.Generator(), device="cuda")
