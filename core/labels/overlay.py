"""The visible label on video frames: `visible.py`'s label, blended into yuv420p planes.

The label is rendered once per (frame size, text, corner, scale) by `visible.label_patch`, the
same drawing `draw_label` uses on images, and turned into per-pixel Y and chroma blend weights;
each frame then pays for a multiply-add over the plate rectangle only.

Levels are limited range (Y 16-235), what libx264 encodes yuv420p as and what PyAV's
``to_ndarray(format="rgb24")`` assumes for frames without a range tag, so `find_label` finds
the label on the decoded RGB frame. The label is neutral grey (white text on a black plate),
so its Y is the same under the BT.601 and BT.709 matrices and its chroma is 128 under both:
blending only pulls the background's chroma toward neutral by the plate's opacity, which is
what blending in RGB would do. Full-range (yuvj) frames would get a plate 16 levels too light.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from synthguard.errors import LabelError
from synthguard.labels.visible import MIN_HEIGHT_RATIO, Corner, label_patch

Plane = npt.NDArray[np.uint8]

_Y_BLACK: Final = 16.0
_Y_SPAN: Final = 219.0 / 255.0  # limited-range Y per RGB level, for a grey
_NEUTRAL: Final = 128.0


class FrameOverlay:
    """The label for frames of one size; ``scale`` multiplies the text height (2.0 for the
    start-screen notice, GB 45438-2025 5.2's 5% of the shortest side at 1.0)."""

    def __init__(
        self, width: int, height: int, text: str, corner: Corner, *, scale: float = 1.0
    ) -> None:
        if not 1.0 <= scale <= 1.0 / MIN_HEIGHT_RATIO:
            raise LabelError(f"label scale {scale} is outside [1, {1.0 / MIN_HEIGHT_RATIO:g}]")
        patch = label_patch(width, height, text, corner, min_height_ratio=MIN_HEIGHT_RATIO * scale)
        box = patch.geometry
        # Widen to even bounds so the rectangle maps onto whole 2x2 chroma samples; the plate
        # keeps a margin of >= 2 px from every edge, so the widened box stays in the frame.
        self._x0, self._y0 = box.x0 - box.x0 % 2, box.y0 - box.y0 % 2
        self._x1, self._y1 = box.x1 + box.x1 % 2, box.y1 + box.y1 % 2
        alpha = np.zeros((self._y1 - self._y0, self._x1 - self._x0))
        colour = np.zeros_like(alpha)
        inner = np.s_[box.y0 - self._y0 : box.y1 - self._y0, box.x0 - self._x0 : box.x1 - self._x0]
        alpha[inner], colour[inner] = patch.alpha, patch.colour
        # out = background * keep + add; the 0.5 makes the truncating cast round.
        self._y_keep = (1.0 - alpha).astype(np.float32)
        self._y_add = (_Y_BLACK * alpha + _Y_SPAN * colour + 0.5).astype(np.float32)
        h2, w2 = alpha.shape[0] // 2, alpha.shape[1] // 2
        chroma_alpha = alpha.reshape(h2, 2, w2, 2).mean(axis=(1, 3))
        self._c_keep = (1.0 - chroma_alpha).astype(np.float32)
        self._c_add = (_NEUTRAL * chroma_alpha + 0.5).astype(np.float32)
        self._shapes = ((height, width), ((height + 1) // 2, (width + 1) // 2))

    def apply(self, y: Plane, u: Plane, v: Plane) -> None:
        """Blend the label in place into a yuv420p frame's planes (HxW uint8 views with any
        row stride, like ``FrameMarker.apply`` takes; u and v are half-size, rounded up).
        As there, a decoded frame needs ``frame.make_writable()`` first."""
        luma, chroma = self._shapes
        if y.shape != luma or u.shape != chroma or v.shape != chroma:
            raise LabelError(
                f"expected yuv420p planes of {luma} and {chroma}, got {y.shape}, {u.shape}, "
                f"{v.shape}"
            )
        box = y[self._y0 : self._y1, self._x0 : self._x1]
        box[...] = box * self._y_keep + self._y_add
        rows, cols = slice(self._y0 // 2, self._y1 // 2), slice(self._x0 // 2, self._x1 // 2)
        for plane in (u, v):
            box = plane[rows, cols]
            box[...] = box * self._c_keep + self._c_add
