"""A tour of the NumPy LeNet library on a real picture: the lecture's experiments, one figure each.

Run from the repository root (a few seconds; every figure in docs/tour/ comes from this command):

    .venv/bin/python docs/tour.py [--out docs/tour]

1. ``conv_stack.png``: three Conv2D -> Tanh layers on a photo of a 7, the first with hand-made
   edge kernels, the other two with random ones;
2. ``maxpool.png``: a max-pool layer's output, its mask, and the dinputs of its backward pass,
   which "have to look the same";
3. ``c3_table.png``: a convolution with LeNet-5's C3 connection table (LeCun, Bottou, Bengio &
   Haffner 1998, "Gradient-based learning applied to document recognition", Table I);
4. ``lenet.png``: the trained LeNet's feature maps for the same photo, and its prediction.

Only ``model.numpy_lenet`` computes; Pillow reads the photo, ``service.inputs.photos.read_digit``
turns it into the network's 28x28 input as the API does, and matplotlib draws (``Figure``
without pyplot renders with Agg: no display, no global state).
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure
from matplotlib.patches import Rectangle
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

from model.numpy_lenet import C3_TABLE, Conv2D, MaxPool, Tanh, load_lenet
from model.numpy_lenet.layers import Array
from service.inputs.images import decode_image
from service.inputs.photos import read_digit

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "tests" / "data" / "seven.png"  # 1200x900, dark ink on light, uneven light
WEIGHTS = ROOT / "artifacts" / "lenet" / "1" / "weights.npz"
OUT = ROOT / "docs" / "tour"

PHOTO_WIDTH = 240  # pixels: the strokes stay a few pixels wide, each layer runs in milliseconds
ZOOM = 16  # input pixels on a side of the max-pool close-up (8x8 pooling windows)
DPI = 80  # keeps every PNG under ~200 KB

# conv1's hand-made 3x3 kernels; on ink-bright input, > 0 where ink starts going right/down.
EDGE_KERNELS = {
    "vertical edges (Sobel)": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "horizontal edges (Sobel)": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "diagonal edges": [[-2, -1, 0], [-1, 0, 1], [0, 1, 2]],
    "spots (Laplacian)": [[0, -1, 0], [-1, 4, -1], [0, -1, 0]],
}


@dataclass(frozen=True)
class Tour:
    """What the tour found, for its caller (the test) as much as for the reader."""

    figures: list[Path]
    mask_matches: bool  # the non-zero pattern of MaxPool.dinputs is exactly MaxPool.mask
    c3_independent: bool  # no C3 output map changes with an input map it is not connected to
    prediction: int
    probability: float


# ---------------------------------------------------------------------------- the picture


def load_photo(path: Path, width: int = PHOTO_WIDTH) -> Array:
    """The photo as (1, H, W, 1) float32 in [0, 1], downscaled, ink bright as in MNIST."""
    image = Image.open(path).convert("L")
    height = round(image.height * width / image.width)
    small = image.resize((width, height), Image.Resampling.LANCZOS)
    ink = 1 - np.asarray(small, dtype=np.float32) / 255  # (H, W): paper ~0, ink ~1
    return ink[None, :, :, None]  # (1, H, W, 1): a batch of one, one channel


def load_digit(path: Path) -> Array:
    """The photo as the network sees it: (1, 28, 28, 1) in [0, 1], MNIST's size and centring."""
    picture = decode_image(path.read_bytes(), max_pixels=50_000_000)  # (1200, 900), dark ink
    found = read_digit(picture)  # the ink found, brought to MNIST's form
    assert found is not None, f"{path} shows no digit"
    digit = found.tensor / 255  # (28, 28), light ink on black, centred by mass
    return digit[None, :, :, None]  # (1, 28, 28, 1)


# ------------------------------------------------------------------ 1. a 3-layer conv stack


def edge_kernels() -> Array:
    """EDGE_KERNELS as one Conv2D weight array (3, 3, 1, 4): (kh, kw, C_in, C_out)."""
    kernels = np.array(list(EDGE_KERNELS.values()), dtype=np.float32)  # (4, 3, 3)
    return kernels.transpose(1, 2, 0)[:, :, None, :]  # (3, 3, 1, 4)


def conv_stack(photo: Array, rng: np.random.Generator) -> list[Array]:
    """The lecture's stack, Conv -> Tanh three times ('valid': each loses a 1-pixel border);
    returns the three activations."""
    conv1 = Conv2D(1, 4, 3, rng=rng)
    conv1.weights = edge_kernels()
    conv2 = Conv2D(4, 4, 3, rng=rng)  # random Glorot-uniform kernels, zero biases
    conv3 = Conv2D(4, 4, 3, rng=rng)
    act1, act2, act3 = Tanh(), Tanh(), Tanh()

    conv1.forward(photo)  # (1, H - 2, W - 2, 4)
    act1.forward(conv1.output)
    conv2.forward(act1.output)  # (1, H - 4, W - 4, 4)
    act2.forward(conv2.output)
    conv3.forward(act2.output)  # (1, H - 6, W - 6, 4)
    act3.forward(conv3.output)
    return [act1.output, act2.output, act3.output]


# ------------------------------------------------------------------------- 2. max pooling


@dataclass(frozen=True)
class Pooling:
    """One max-pool layer's forward and backward results."""

    inputs: Array  # (1, H, W, C)
    output: Array  # (1, H // 2, W // 2, C)
    mask: Array  # (1, H, W, C) bool: where each window's max came from
    dinputs_ones: Array  # backward(ones): 1 at the mask, 0 elsewhere
    dinputs_output: Array  # backward(output): each max put back where it came from


def max_pool(maps: Array) -> Pooling:
    """Forward, then backward twice; checks that the gradient reaches exactly the mask."""
    pool = MaxPool(2)
    pool.forward(maps)  # (1, H // 2, W // 2, C)
    dinputs_ones = pool.backward(np.ones_like(pool.output))  # (1, H, W, C)
    dinputs_output = pool.backward(pool.output)  # a new array: dinputs_ones is kept
    assert np.array_equal(dinputs_ones != 0, pool.mask), "dinputs and mask must look the same"
    assert np.array_equal(dinputs_output, np.where(pool.mask, maps, 0))
    return Pooling(maps, pool.output, pool.mask, dinputs_ones, dinputs_output)


def zoom_window(feature_map: Array, size: int = ZOOM) -> tuple[int, int]:
    """Top-left corner of the size x size close-up with the most response, on the pooling grid
    (even coordinates) so that it shows whole 2x2 windows."""
    windows = sliding_window_view(np.abs(feature_map), (size, size))[::2, ::2]  # (h, w, s, s)
    y, x = np.unravel_index(windows.sum(axis=(2, 3)).argmax(), windows.shape[:2])
    return 2 * int(y), 2 * int(x)


# ------------------------------------------------------------- 3. the C3 connection table


def c3_conv(maps: Array, rng: np.random.Generator) -> tuple[Conv2D, bool]:
    """A 16-kernel 5x5 convolution of 6 maps through C3_TABLE; also checks that changing the
    maps a kernel is not connected to leaves its output map alone."""
    c3 = Conv2D(6, 16, 5, connection_table=C3_TABLE, rng=rng)
    c3.forward(maps)  # (1, 10, 10, 16) from (1, 14, 14, 6)
    independent = True
    for k in range(16):
        unconnected = ~C3_TABLE[:, k]  # (6,) bool
        noisy = maps + rng.standard_normal(maps.shape).astype(maps.dtype) * unconnected
        out = c3.forward(noisy, training=False)  # (1, 10, 10, 16)
        independent &= bool(np.array_equal(out[..., k], c3.output[..., k]))
    return c3, independent


# --------------------------------------------------------------------------------- drawing


def show(ax: Axes, image: Array, title: str = "", *, signed: bool = True) -> None:
    """One panel: a feature map on tanh's scale (red > 0, white 0, blue < 0) or a gray image."""
    if signed:
        ax.imshow(image, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    else:
        ax.imshow(image, cmap="gray", interpolation="nearest")
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


def map_row(fig: SubFigure, maps: Array, title: str) -> None:
    """One panel per channel k of maps (H, W, C), as the lecture's imshow(output[0, :, :, k])."""
    axes = fig.subplots(1, maps.shape[-1], squeeze=False)[0]
    for k, ax in enumerate(axes):
        show(ax, maps[:, :, k], str(k))
    fig.suptitle(title, fontsize=9)


def pool_grid(ax: Axes, step: int, size: int) -> None:
    """Lines between pooling windows on a close-up."""
    for position in np.arange(step, size, step) - 0.5:
        ax.axhline(position, color="0.6", linewidth=0.5)
        ax.axvline(position, color="0.6", linewidth=0.5)


def draw_conv_stack(photo: Array, activations: list[Array]) -> Figure:
    """The photo and conv1's kernels, then each layer's feature maps."""
    fig = Figure(figsize=(10, 9.5), layout="constrained")
    top, *rows = fig.subfigures(4, 1, height_ratios=[1.2, 1, 1, 1])
    axes = top.subplots(1, 5)
    show(axes[0], photo[0, :, :, 0], f"input {photo.shape}", signed=False)
    for ax, (name, kernel) in zip(axes[1:], EDGE_KERNELS.items(), strict=True):
        ax.imshow(kernel, cmap="RdBu_r", vmin=-4, vmax=4)
        for (y, x), value in np.ndenumerate(np.array(kernel)):
            color = "white" if abs(value) > 2 else "black"
            ax.text(x, y, str(value), ha="center", va="center", fontsize=9, color=color)
        ax.set_title(name, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    top.suptitle("the photo (ink bright) and conv1's hand-made 3x3 kernels", fontsize=9)
    captions = ["conv1: edge kernels", "conv2: random kernels", "conv3: random kernels"]
    for fig_row, act, caption in zip(rows, activations, captions, strict=True):
        map_row(fig_row, act[0], f"{caption}, tanh; output {act.shape}")
    return fig


def draw_max_pool(pooling: Pooling, channel: int) -> Figure:
    """One channel's input, output, mask and dinputs; below, a close-up of each."""
    fig = Figure(figsize=(11, 5.5), layout="constrained")
    axes = fig.subplots(2, 5)
    panels = [  # (array (1, H, W, C), title, signed?, 1 for input-sized or 2 for pooled)
        (pooling.inputs, "input: conv1's map", True, 1),
        (pooling.output, "pool.output (2x2 max)", True, 2),
        (pooling.mask, "pool.mask", False, 1),
        (pooling.dinputs_ones, "pool.dinputs, dvalues = 1", False, 1),
        (pooling.dinputs_output, "pool.dinputs, dvalues = output", True, 1),
    ]
    top, left = zoom_window(pooling.inputs[0, :, :, channel])
    for column, (array, title, signed, scale) in enumerate(panels):
        image = array[0, :, :, channel]  # the lecture's output[0, :, :, k]
        show(axes[0, column], image, f"{title}\n{array.shape}", signed=signed)
        size, (y, x) = ZOOM // scale, (top // scale, left // scale)
        close_up = image[y : y + size, x : x + size]
        show(axes[1, column], close_up, f"close-up, {size}x{size}", signed=signed)
        pool_grid(axes[1, column], 2 // scale, size)
        axes[0, column].add_patch(
            Rectangle((x - 0.5, y - 0.5), size, size, fill=False, edgecolor="orange")
        )
    fig.suptitle(
        "MaxPool(2): backward sends each window's gradient to its max only, "
        "so dinputs and mask look the same (grid: pooling windows)",
        fontsize=9,
    )
    return fig


def draw_c3(maps: Array, c3: Conv2D) -> Figure:
    """The connection table, the 6 input maps and the 16 output maps."""
    fig = Figure(figsize=(11, 7.5), layout="constrained")
    table, inputs, outputs = fig.subfigures(3, 1, height_ratios=[1.1, 1, 1.6])
    ax = table.subplots()
    ax.imshow(C3_TABLE, cmap="Greys", vmin=0, vmax=4)
    for y, x in zip(*np.nonzero(C3_TABLE), strict=True):
        ax.text(x, y, "X", ha="center", va="center", fontsize=8)  # as the paper's Table I
    ax.set_xticks(range(16))
    ax.set_yticks(range(6))
    ax.set_xlabel("C3 kernel (output map)", fontsize=8)
    ax.set_ylabel("input map", fontsize=8)
    ax.tick_params(labelsize=7)
    table.suptitle(
        f"C3_TABLE (6, 16): {C3_TABLE.sum()} connections, {c3.n_params} parameters "
        f"(6 x 16 full: {5 * 5 * 6 * 16 + 16})",
        fontsize=9,
    )
    map_row(inputs, maps[0], f"input: the trained LeNet's pool1 for the photo {maps.shape}")
    axes = outputs.subplots(2, 8)
    for k, ax in enumerate(axes.flat):
        feeds = ",".join(str(i) for i in np.flatnonzero(C3_TABLE[:, k]))
        show(ax, np.tanh(c3.output[0, :, :, k]), f"{k} <- {feeds}")
    outputs.suptitle(
        f"tanh(C3 output) {c3.output.shape}, random kernels: map k <- the input maps it sees",
        fontsize=9,
    )
    return fig


def draw_lenet(photo: Array, digit: Array, acts: dict[str, Array]) -> Figure:
    """Photo, input and probabilities, then every stage's activations."""
    fig = Figure(figsize=(12, 10), layout="constrained")
    top, *rows, bottom = fig.subfigures(6, 1, height_ratios=[1.7, 1.2, 1.2, 0.9, 0.9, 1.4])
    axes = top.subplots(1, 3, width_ratios=[1.3, 1, 2])
    show(axes[0], 1 - photo[0, :, :, 0], f"the photo, {PHOTO.name}", signed=False)
    show(axes[1], digit[0, :, :, 0], f"read_digit: the input {digit.shape}", signed=False)
    probs = acts["output"][0]  # (10,)
    axes[2].bar(
        range(10), probs, color=["tab:orange" if p == probs.max() else "0.6" for p in probs]
    )
    axes[2].set_xticks(range(10))
    axes[2].set_ylim(0, 1)
    axes[2].set_title(f"output: prediction {probs.argmax()}, p = {probs.max():.3f}", fontsize=8)
    for fig_row, name in zip(rows, ["conv1", "pool1", "conv2", "pool2"], strict=True):
        map_row(fig_row, acts[name][0], f"{name} {acts[name].shape}")
    axes = bottom.subplots(1, 2)
    show(axes[0], acts["conv3"].reshape(10, 12), f"conv3 {acts['conv3'].shape} as 10x12")
    show(axes[1], acts["fc1"].reshape(7, 12), f"fc1 {acts['fc1'].shape} as 7x12")
    fig.suptitle("the trained LeNet (artifacts/lenet/1) on the photo: net.activations(x)")
    return fig


def save(fig: Figure, path: Path) -> Path:
    """Write fig as a 256-colour PNG: looks the same, half the bytes of matplotlib's RGBA."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    image = Image.open(buffer).convert("RGB").quantize(256, dither=Image.Dither.NONE)
    image.save(path, optimize=True)
    print(f"  wrote {path}")
    return path


# ------------------------------------------------------------------------------ the tour


def main(argv: Sequence[str] | None = None) -> Tour:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the PNGs")
    out = parser.parse_args(argv).out
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    figures = []

    photo = load_photo(PHOTO)
    print(f"photo {PHOTO.name} -> {photo.shape}")

    print("1. a 3-layer conv stack")
    activations = conv_stack(photo, rng)
    for i, act in enumerate(activations, start=1):
        print(f"  conv{i} -> tanh: {act.shape}, values in [{act.min():.2f}, {act.max():.2f}]")
    figures.append(save(draw_conv_stack(photo, activations), out / "conv_stack.png"))

    print("2. max pooling of conv1's maps")
    pooling = max_pool(activations[0])
    print(f"  {pooling.inputs.shape} -> {pooling.output.shape}; mask {pooling.mask.shape}")
    print(f"  mask has {pooling.mask.sum()} True: one per window, {pooling.output.size} windows")
    mask_matches = np.array_equal(pooling.dinputs_ones != 0, pooling.mask)
    print(f"  non-zero pattern of dinputs == mask: {mask_matches}")
    figures.append(save(draw_max_pool(pooling, channel=0), out / "maxpool.png"))

    net = load_lenet(WEIGHTS)
    digit = load_digit(PHOTO)
    acts = net.activations(digit)  # {"conv1": (1, 28, 28, 6), ..., "output": (1, 10)}

    print("3. a convolution through LeNet-5's C3 connection table")
    c3, independent = c3_conv(acts["pool1"], rng)
    print(f"  {acts['pool1'].shape} -> {c3.output.shape}; {c3.n_params} parameters")
    print(f"  each output map ignores the input maps it is not connected to: {independent}")
    figures.append(save(draw_c3(acts["pool1"], c3), out / "c3_table.png"))

    print("4. the trained LeNet on the photo")
    for name, act in acts.items():
        print(f"  {name:8} {act.shape}")
    probs = acts["output"][0]
    prediction, probability = int(probs.argmax()), float(probs.max())
    print(f"  prediction: {prediction} (p = {probability:.3f})")
    figures.append(save(draw_lenet(photo, digit, acts), out / "lenet.png"))

    return Tour(figures, mask_matches, independent, prediction, probability)


if __name__ == "__main__":
    main()
