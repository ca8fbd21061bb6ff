"""Blind invisible video watermark carrying a 64-bit identifier, frame by frame.

The image watermark's mark (:mod:`synthguard.watermark.image`: the 128x128 tile of sync and
data chips, 64-bit payload + CRC-32, Chase decoding) on every frame's luma, with three changes
for video:

* **Resolution-invariant.** The tile is laid out on a canonical grid ``CANONICAL_HEIGHT``
  rows high (width from the aspect ratio) and resampled once to the frame size, so a chip is
  ``4 * height / 360`` px: 12 px at 1080p, 8 px at 720p. The detector resamples every Y plane
  to the canonical grid before folding, so a rescaled copy folds onto the same tile.
* **Static and cheap.** The same integer delta is added to every frame: the encoder predicts
  it across P-frames instead of spending bits and time on per-frame noise, and ``apply`` is
  four in-place uint8 passes (about 0.3 ms for a 1080p plane). There is no perceptual mask: a
  mask follows the content, so the delta would change every frame, which is both the cost and
  the encoder load this design avoids. Chroma is untouched.
* **Detection accumulates.** Each added frame is whitened locally on the canonical grid and
  folded into one running 128x128 tile, so moving content averages out while the static mark
  adds up; ``result`` decodes that tile once. Dropped frames, a changed frame rate or a cut only
  change how many frames are summed.

Decision rule: only the robust (locally whitened) front end is used, so an unmarked video
passes the CRC-32 check with probability at most ``SYNC_CANDIDATES * 2**CHASE_BITS * 2**-32``
(about 1.2e-7, half the image bound; ``FALSE_POSITIVE_BOUND``), independent of the content.

Limits: no crops, rotations or flips (the canonical grid assumes the full frame). Frames
below ``MIN_HEIGHT`` rows, narrower than one tile on the canonical grid (aspect below
128:360) or wider than ``MAX_CANONICAL_WIDTH`` cannot carry the mark: ``FrameMarker``
refuses them and the detector skips them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image

from synthguard.watermark.image import (
    CHASE_BITS,
    CRC_BITS,
    SYNC_CANDIDATES,
    TILE,
    Detection,
    FloatArray,
    _crc_bits,
    check_payload,
    decode,
    fold,
    soft_bits,
    tile_pattern,
    whiten,
)

Plane = npt.NDArray[np.uint8]

CANONICAL_HEIGHT: Final = 360
# A chip is 4 canonical px; below 2 px per chip it aliases away in the frame.
MIN_HEIGHT: Final = CANONICAL_HEIGHT // 2
# Y PSNR about 42 dB (about 2 levels RMS); see bench/video_watermark.py for what it survives.
DEFAULT_STRENGTH: Final = 3.0
# One front end (the robust one) x SYNC_CANDIDATES alignments x 2**CHASE_BITS candidates.
FALSE_POSITIVE_BOUND: Final = SYNC_CANDIDATES * 2**CHASE_BITS / 2.0**CRC_BITS
# Our bound, an aspect ratio of about 11:1: wider frames are no video we label, and a hostile
# 8192x180 stream would otherwise cost the detector a 16k-wide canonical plane per frame.
MAX_CANONICAL_WIDTH: Final = 4096


def _canonical_width(width: int, height: int) -> int | None:
    """The frame's width on the canonical grid, or None when it cannot carry the mark."""
    if height < MIN_HEIGHT:
        return None
    canonical = round(width * CANONICAL_HEIGHT / height)
    return canonical if TILE <= canonical <= MAX_CANONICAL_WIDTH else None


def can_carry(width: int, height: int) -> bool:
    """Whether frames of this size can carry the mark (FrameMarker refuses the others)."""
    return _canonical_width(width, height) is not None


class FrameMarker:
    """Adds the mark for one payload to frames of one size; build once per video."""

    def __init__(
        self, width: int, height: int, payload: int, *, strength: float = DEFAULT_STRENGTH
    ) -> None:
        check_payload(payload)
        canonical_width = _canonical_width(width, height)
        if canonical_width is None:
            raise ValueError(
                f"a {width}x{height} frame is too small (or too narrow or wide) for the video "
                f"watermark: it needs at least {MIN_HEIGHT} rows and a width of "
                f"{TILE / CANONICAL_HEIGHT:.3f} to {MAX_CANONICAL_WIDTH / CANONICAL_HEIGHT:.1f} "
                "x its height"
            )
        reps = (-(-CANONICAL_HEIGHT // TILE), -(-canonical_width // TILE))
        canonical = np.tile(tile_pattern(payload) * np.float32(strength), reps)
        canonical = canonical[:CANONICAL_HEIGHT, :canonical_width]
        full = Image.fromarray(canonical, "F").resize((width, height), Image.Resampling.BICUBIC)
        delta = np.rint(np.asarray(full)).astype(np.int16)
        # Saturating y + delta as uint8 passes without temporaries: each pixel gets either an
        # increment (capped by the ceiling) or a decrement (floored by its own size).
        self._up = np.maximum(delta, 0).astype(np.uint8)
        self._down = np.maximum(-delta, 0).astype(np.uint8)
        self._ceiling = 255 - self._up

    def apply(self, y: Plane) -> None:
        """Add the mark in place to one frame's luma plane: an HxW uint8 array, possibly a
        non-contiguous view whose row stride is the plane's line size (PyAV:
        ``np.frombuffer(frame.planes[0], np.uint8).reshape(h, line_size)[:, :w]``).

        Call ``frame.make_writable()`` on a decoded frame first: its planes are the decoder's
        reference pictures, and a mark written there is added again by every later P-frame."""
        if y.dtype != np.uint8 or y.shape != self._up.shape:
            raise ValueError(
                f"expected a {self._up.shape[1]}x{self._up.shape[0]} uint8 luma plane, "
                f"got {y.dtype} of shape {y.shape}"
            )
        np.minimum(y, self._ceiling, out=y)
        y += self._up
        np.maximum(y, self._down, out=y)
        y -= self._down


class VideoDetector:
    """Accumulates frames of one video (any resolution) and decodes the payload once."""

    def __init__(self) -> None:
        self._folded = np.zeros((TILE, TILE), np.float64)
        self._frames = 0
        self._folds = 0

    @property
    def frames(self) -> int:
        """Frames added, including any that cannot carry the mark (and were skipped)."""
        return self._frames

    def add(self, y: Plane) -> None:
        """Fold one frame's luma plane (HxW uint8, any stride) into the running tile."""
        self._frames += 1
        height, width = y.shape
        canonical_width = _canonical_width(width, height)
        if canonical_width is None:
            return
        plane = Image.fromarray(y).convert("F")
        canonical: FloatArray = np.asarray(
            plane.resize((canonical_width, CANONICAL_HEIGHT), Image.Resampling.BILINEAR)
        )
        self._folded += fold(whiten(canonical))
        self._folds += 1

    def result(self) -> Detection:
        """The payload, if the frames added so far carry one."""
        found = decode(self._candidates(), FALSE_POSITIVE_BOUND)
        return found or Detection(False, None, 0.0, 0.0, FALSE_POSITIVE_BOUND)

    def bit_accuracy(self, payload: int) -> float:
        """Share of the 96 raw hard coded-bit decisions at the best alignment that equal
        ``payload``'s codeword (0.0 before any frame was folded)."""
        check_payload(payload)
        candidates = self._candidates()
        if not candidates:
            return 0.0
        return float(np.mean((candidates[0][1] > 0) == _crc_bits(payload)))

    def _candidates(self) -> list[tuple[float, npt.NDArray[np.float64]]]:
        if not self._folds:
            return []
        return soft_bits(self._folded, spectral_whitening=False)


def detect_planes(planes: Iterable[Plane]) -> Detection:
    """Look for the mark in the luma planes of one video's frames."""
    detector = VideoDetector()
    for y in planes:
        detector.add(y)
    return detector.result()
