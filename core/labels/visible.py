"""The explicit (visible) image label: Deep Synthesis Provisions Art. 17; GB 45438-2025 5.2.

A text prompt ("AI生成" by default) is drawn in a corner, white on a semi-opaque dark plate, with
the text at least 5% of the image's shortest side high ("文字高度不应低于画面最短边长度的 5%").
"Text height" is measured on the rendered ink, not the nominal font size: the height of the
tallest single character, counting only rows at least half covered, so neither antialiasing
fringes nor a descender spanning a whole line can inflate it.

`find_label` recognises our own rendering of a known text at the size and place we would draw
it for that image: a template match on luminance, not OCR. It survives JPEG re-encoding (q30,
q50 and PNG->JPEG->PNG measured) and crops that leave the label's corner and the shortest
side's 5% rounding alone. It does not survive resizing (the expected size and place change),
a crop of even 1 px at the label's corner, another renderer or font, or another wording.
"""

from __future__ import annotations

import functools
import importlib.util
import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from synthguard.errors import LabelError, MissingDependencyError
from synthguard.labels.text import is_explicit_notice

Pixels = npt.NDArray[np.uint8]
_Floats = npt.NDArray[np.float64]


class Corner(StrEnum):
    TOP_LEFT = "top-left"
    TOP_RIGHT = "top-right"
    BOTTOM_LEFT = "bottom-left"
    BOTTOM_RIGHT = "bottom-right"


DEFAULT_TEXT: Final = "AI生成"
# Exact BCP 47 tag first, then its language subtag; anything else gets DEFAULT_TEXT, since the
# rules apply to content served in China. "AI-generated" passes our element check only through
# the English gap documented in GB45438-NOTES.md: prefer the Chinese text for China.
LOCALE_TEXTS: Final[Mapping[str, str]] = MappingProxyType(
    {"zh-CN": DEFAULT_TEXT, "zh-TW": DEFAULT_TEXT, "zh-HK": DEFAULT_TEXT, "en": "AI-generated"}
)

# Art. 17; GB 45438-2025 5.2: text height >= 5% of the shortest side.
MIN_HEIGHT_RATIO: Final = 0.05
# Our floor, not the standard's: CJK glyphs under ~10 px lose strokes and stop being readable,
# so small images get a label larger than 5%, and images that cannot hold it are refused.
MIN_TEXT_PX: Final = 10
MAX_TEXT_PX: Final = 1024  # our bound: enough for a 20000 px shortest side
MAX_TEXT_CHARS: Final = 32
# Legibility: white text on a black plate at 70% opacity. A stroke alone (white text, dark
# outline) drowns in busy texture at the 10-20 px sizes most images get, while the plate caps
# the background's share at 30%: white text stays >= 8:1 WCAG contrast even on pure white
# (plate luminance <= 0.3 * 255), 21:1 on black, and the 30% show-through keeps the corner from
# reading as a hole. The plate's uniform dark ground is also what makes `find_label` reliable.
PLATE_ALPHA: Final = 0.7
PLATE_PAD: Final = 0.3  # plate padding around the ink, as a fraction of the text height
EDGE_MARGIN: Final = 0.5  # gap between plate and image edge, as a fraction of the text height
# Normalised cross-correlation (luminance) between a corner and our rendering. Measured on 19
# skimage.data images and flat white/grey/black ones: our labels score >= 0.86 after JPEG q30,
# q50 or PNG->JPEG->PNG (the lowest: a stark black-and-white silhouette showing through the
# plate); 483 unlabeled photos and crops score <= 0.32. 0.6 leaves room on both sides.
MATCH_THRESHOLD: Final = 0.6

_FONT_FILE: Final = "NotoSansCJKsc-Regular.otf"
_INSTALL_HINT: Final = "pip install mplfonts==0.0.11"
_SOLID: Final = 128  # coverage at which a row counts as ink when measuring text height
_LUMA: Final = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601


@dataclass(frozen=True, slots=True)
class LabelGeometry:
    """Where the label's plate sits (x1, y1 exclusive) and its measured text height in px."""

    corner: Corner
    x0: int
    y0: int
    x1: int
    y1: int
    text_height: int


def text_for_locale(locale: str) -> str:
    """The default label text for a BCP 47 `locale` ("en-US" falls back to "en")."""
    text = LOCALE_TEXTS.get(locale) or LOCALE_TEXTS.get(locale.split("-", 1)[0])
    return text if text is not None else DEFAULT_TEXT


def label_geometry(
    width: int,
    height: int,
    text: str = DEFAULT_TEXT,
    corner: Corner = Corner.BOTTOM_RIGHT,
    *,
    min_height_ratio: float = MIN_HEIGHT_RATIO,
) -> LabelGeometry:
    """The plate box and text height `draw_label` uses on a `width` x `height` image."""
    return _layout(width, height, text, corner, min_height_ratio)[0]


@dataclass(frozen=True, slots=True)
class LabelPatch:
    """The label as drawn over its plate box: per-pixel opacity (0-1) and premultiplied grey
    level (0-255; the label is white text on a black plate, so one channel holds R, G and B)."""

    geometry: LabelGeometry
    alpha: _Floats
    colour: _Floats


def label_patch(
    width: int,
    height: int,
    text: str = DEFAULT_TEXT,
    corner: Corner = Corner.BOTTOM_RIGHT,
    *,
    min_height_ratio: float = MIN_HEIGHT_RATIO,
) -> LabelPatch:
    """What `draw_label` blends over a `width` x `height` image, for other pixel formats."""
    geometry, layer = _layout(width, height, text, corner, min_height_ratio)
    coverage = layer / 255.0
    # White text over the plate: the label's own alpha and its premultiplied colour.
    return LabelPatch(geometry, coverage + PLATE_ALPHA * (1.0 - coverage), 255.0 * coverage)


def draw_label(
    pixels: Pixels,
    text: str = DEFAULT_TEXT,
    corner: Corner = Corner.BOTTOM_RIGHT,
    min_height_ratio: float = MIN_HEIGHT_RATIO,
) -> Pixels:
    """A copy of `pixels` (uint8 HxWx3 or HxWx4) with the visible label drawn in `corner`."""
    _check_pixels(pixels)
    patch = label_patch(
        pixels.shape[1], pixels.shape[0], text, corner, min_height_ratio=min_height_ratio
    )
    geometry, alpha, colour = patch.geometry, patch.alpha, patch.colour
    out = pixels.copy()
    box = out[geometry.y0 : geometry.y1, geometry.x0 : geometry.x1]
    background = box[..., :3].astype(np.float64)
    if box.shape[2] == 3:
        blended = colour[..., None] + background * (1.0 - alpha)[..., None]
    else:
        # Straight alpha "over": a transparent corner must still end up showing the label.
        under = box[..., 3] / 255.0 * (1.0 - alpha)
        out_alpha = alpha + under
        blended = (colour[..., None] + background * under[..., None]) / out_alpha[..., None]
        box[..., 3] = np.rint(out_alpha * 255.0).astype(np.uint8)
    box[..., :3] = np.rint(np.clip(blended, 0.0, 255.0)).astype(np.uint8)
    return out


def find_label(
    pixels: Pixels, text: str = DEFAULT_TEXT, *, min_height_ratio: float = MIN_HEIGHT_RATIO
) -> Corner | None:
    """The corner holding our label for `text`, or None (see the module docstring's limits)."""
    scores = corner_scores(pixels, text, min_height_ratio=min_height_ratio)
    if not scores:
        return None
    best = max(scores, key=lambda corner: scores[corner])
    return best if scores[best] >= MATCH_THRESHOLD else None


def corner_scores(
    pixels: Pixels, text: str = DEFAULT_TEXT, *, min_height_ratio: float = MIN_HEIGHT_RATIO
) -> dict[Corner, float]:
    """Each corner's correlation with our label (empty when the image is too small for one)."""
    _check_pixels(pixels)
    height, width = pixels.shape[:2]
    try:
        layouts = [_layout(width, height, text, corner, min_height_ratio) for corner in Corner]
    except _SizeError:
        return {}
    return {
        geometry.corner: _ncc(
            pixels[geometry.y0 : geometry.y1, geometry.x0 : geometry.x1, :3] @ _LUMA, layer
        )
        for geometry, layer in layouts
    }


class _SizeError(LabelError):
    """The image is too small to hold the label or too large to render one for; `find_label`
    reads either as "no label"."""


def _ncc(patch: _Floats, template: Pixels) -> float:
    """Normalised cross-correlation; 0 for a flat patch, which cannot hold any text."""
    a = patch - patch.mean()
    b = template - template.mean()
    denominator = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    return float((a * b).sum()) / denominator if denominator > 0 else 0.0


def _check_pixels(pixels: object) -> None:
    if (
        not isinstance(pixels, np.ndarray)
        or pixels.dtype != np.uint8
        or pixels.ndim != 3
        or pixels.shape[2] not in (3, 4)
    ):
        found = (
            f"{pixels.dtype} array of shape {pixels.shape}"
            if isinstance(pixels, np.ndarray)
            else type(pixels).__name__
        )
        raise LabelError(f"expected a uint8 HxWx3 (RGB) or HxWx4 (RGBA) array, got {found}")


def _check_text(text: object) -> str:
    if not isinstance(text, str) or not text.strip():
        raise LabelError("label text must be a non-empty string")
    if len(text) > MAX_TEXT_CHARS or len(text.splitlines()) != 1:
        raise LabelError(f"label text must be one line of at most {MAX_TEXT_CHARS} characters")
    # Art. 17; GB 45438-2025 5.1: the prompt needs an AI element and a generation element.
    if not is_explicit_notice(text):
        raise LabelError(
            f"label text {text!r} lacks GB 45438's elements: "
            "'AI' or '人工智能' plus '生成' or '合成'"
        )
    return text


def _layout(
    width: int, height: int, text: str, corner: Corner, min_height_ratio: float
) -> tuple[LabelGeometry, Pixels]:
    """The label's geometry and its plate-sized text coverage layer (0-255)."""
    try:
        corner = Corner(corner)
    except ValueError:
        raise LabelError(f"corner must be one of {', '.join(Corner)}, not {corner!r}") from None
    layer, text_height = _plate(_check_text(text), _target(width, height, min_height_ratio))
    plate_h, plate_w = layer.shape
    margin = max(2, round(EDGE_MARGIN * text_height))
    if plate_w + 2 * margin > width or plate_h + 2 * margin > height:
        raise _SizeError(
            f"a {width}x{height} image is too small for the label {text!r}: its text must be "
            f"{text_height} px high, which needs {plate_w + 2 * margin}x{plate_h + 2 * margin}"
        )
    left = corner in (Corner.TOP_LEFT, Corner.BOTTOM_LEFT)
    top = corner in (Corner.TOP_LEFT, Corner.TOP_RIGHT)
    x0 = margin if left else width - margin - plate_w
    y0 = margin if top else height - margin - plate_h
    return LabelGeometry(corner, x0, y0, x0 + plate_w, y0 + plate_h, text_height), layer


def _target(width: int, height: int, min_height_ratio: float) -> int:
    """The text height to reach, in px."""
    if not MIN_HEIGHT_RATIO <= min_height_ratio <= 1.0:
        # Art. 17; GB 45438-2025 5.2: never below 5% of the shortest side.
        raise LabelError(f"min_height_ratio {min_height_ratio} is outside [0.05, 1]")
    # Art. 17; GB 45438-2025 5.2: text height >= 5% of the shortest side (or the ratio asked).
    target = max(MIN_TEXT_PX, math.ceil(min_height_ratio * min(width, height)))
    if target > MAX_TEXT_PX:
        raise _SizeError(
            f"a {width}x{height} image would need {target} px text (at most {MAX_TEXT_PX})"
        )
    return target


@functools.lru_cache(maxsize=256)
def _plate(text: str, target: int) -> tuple[Pixels, int]:
    """The plate's text layer (the ink inside its padding) and the measured text height."""
    size = target
    measured = _text_height(text, size)
    while measured < target:
        # Ink height grows about linearly with the size: jump most of the way, then creep.
        size += max(1, (target - measured) * size // max(measured, 1))
        measured = _text_height(text, size)
    ink = _render(text, size)
    pad = max(2, round(PLATE_PAD * measured))
    layer = np.zeros((ink.shape[0] + 2 * pad, ink.shape[1] + 2 * pad), dtype=np.uint8)
    layer[pad : pad + ink.shape[0], pad : pad + ink.shape[1]] = ink
    layer.flags.writeable = False  # shared through the cache
    return layer, measured


def _text_height(text: str, size: int) -> int:
    """Height of the tallest single character's solid ink (rows at least half covered)."""
    return max(_solid_rows(_draw(char, size)) for char in set(text))


def _solid_rows(ink: Pixels) -> int:
    rows = np.flatnonzero(ink.max(axis=1) >= _SOLID)
    return int(rows[-1] - rows[0] + 1) if rows.size else 0


def _render(text: str, size: int) -> Pixels:
    """`text` at font `size` as a coverage mask cropped to its ink."""
    mask = _draw(text, size)
    rows = np.flatnonzero(mask.max(axis=1))
    cols = np.flatnonzero(mask.max(axis=0))
    if not rows.size:
        raise LabelError(f"label text {text!r} renders no visible ink")
    return mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _draw(text: str, size: int) -> Pixels:
    """`text` at font `size` as a coverage mask (0-255) with a little room around it."""
    font = _font(size)
    left, top, right, bottom = font.getbbox(text)
    pad = 2  # antialiasing may spill a pixel past the reported box
    extent = (math.ceil(right - left) + 2 * pad, math.ceil(bottom - top) + 2 * pad)
    canvas = Image.new("L", extent, 0)
    ImageDraw.Draw(canvas).text((pad - left, pad - top), text, fill=255, font=font)
    return np.asarray(canvas)


@functools.lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.FreeTypeFont:
    path = _font_path()
    try:
        return ImageFont.truetype(str(path), size)
    except OSError as exc:
        raise MissingDependencyError(
            f"cannot load the label font {path}: {exc}; reinstall it: {_INSTALL_HINT}"
        ) from exc


@functools.cache
def _font_path() -> Path:
    """Noto Sans CJK SC (SIL OFL) from the mplfonts wheel, found without importing mplfonts
    (its __init__ imports matplotlib)."""
    spec = importlib.util.find_spec("mplfonts")
    for root in (spec and spec.submodule_search_locations) or ():
        path = Path(root) / "fonts" / _FONT_FILE
        if path.is_file():
            return path
    raise MissingDependencyError(
        f"the visible label needs the font {_FONT_FILE} from mplfonts: {_INSTALL_HINT}"
    )
