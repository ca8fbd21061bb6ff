"""Blind, streaming, inaudible audio watermark carrying the same 64-bit ID as the image mark.

Design:

* **Domain.** A grid of *tiles*: 40 ms chips in time x 32 bands (mel-spaced, 300-7000 Hz) in
  frequency. Both are defined in seconds and hertz, never in samples, so the grid is the same
  at any sample rate: resampling to 16 kHz keeps every band (7 kHz is under its 8 kHz Nyquist
  and the resampler's roll-off). A tile's gain goes up or down by about a decibel, applied
  through a short-time Fourier transform (40 ms sqrt-Hann windows, 20 ms hop, two frames per
  chip). The change is *multiplicative*: the mark is the content itself, re-weighted, so it
  has the content's spectrum and follows its loudness, sits ~22 dB under it on real music and
  speech (~18 dB in the worst second), and digital silence stays silent (so detection needs
  non-silent content). All channels get the same gains, which survives any downmix and
  joint-stereo coding.
* **Spread spectrum.** A 64-chip block (2.56 s) carries a fixed *sync* pattern plus a *data*
  pattern where each of the 2,048 tiles holds one of the 96 coded bits (64 payload + CRC-32)
  times a secret +/-1 key (about 21 tiles per bit). Blocks repeat for the whole stream.
* **Informed embedding.** The host itself is the main noise: a band that grows louder over a
  chip reads as "+". Before marking a block, the embedder measures, per bit, how much the
  host's own tiles push against that bit (in the same whitened log-energy domain the detector
  reads) and adds the opposite to those tiles, capped (improved spread spectrum, Malvar and
  Florencio 2003). On 10 s of real music that costs ~2 dB of SNR and lifts raw bit accuracy
  from ~0.93 to 1.0.
* **Streaming.** :class:`AudioMarker` is fed consecutive sample blocks and returns marked
  samples one watermark block later (~2.7 s of latency), so memory is bounded by a few
  seconds of audio whatever the file's length.
* **Blind detection.** :class:`AudioDetector` reads log band energies on 10 ms frames,
  whitens them (minus a +/-60 ms moving average per band, minus the mean over bands, clipped)
  and *folds* them modulo the block length. An unknown start (encoder delay and padding,
  a cut) is only a cyclic shift of the fold, found by FFT cross-correlation with the sync
  pattern at 10 ms resolution. It reads at most ``MAX_DETECT_S`` seconds.
* **Decision rule.** As for images: Chase decoding over the ``CHASE_BITS`` least reliable bits
  for each of the ``SYNC_CANDIDATES`` best alignments; found only when a CRC-32 matches. On
  unmarked audio each candidate passes with probability 2**-32, so by the union bound the
  false-positive probability is at most ``SYNC_CANDIDATES * 2**CHASE_BITS * 2**-32``
  (``FALSE_POSITIVE_BOUND``, about 2.4e-7), independent of the audio. Where a record names the
  ID, a *known-ID test* needs less: ``MATCH_AGREE`` of the 96 hard bits agreeing with that
  ID's codeword (bound ``MATCH_FALSE_POSITIVE_BOUND``, about 5.4e-8).

Limits: no time-stretching or pitch-shifting (the grid must stay put); the sample rate of
marked audio must be a multiple of 50 Hz (the hop is a whole number of samples: 8, 16, 22.05,
24, 32, 44.1, 48 and 96 kHz all are); detection needs several seconds of non-silent content
(the 5.3 s soundtrack, or about 12 s of read speech, decode blind after MP3 + 16 kHz; the
known-ID test confirms ~1 s of music and 4-6 s of speech; silence carries nothing). A
synthetic signal whose formants swing +/-20% several times a second, in syllables with silent
gaps, defeats it (raw bit accuracy ~0.8 at 15-60 s; see bench/audio_watermark.py). The keys
come from a fixed seed, so the mark is a label, not a secret.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from synthguard.watermark.image import (
    CHASE_BITS,
    CODED_BITS,
    CRC_BITS,
    Detection,
    _crc_bits,
    agreement_bound,
    check_payload,
    decode,
    match,
)

Samples = npt.NDArray[np.float32]
_F64 = npt.NDArray[np.float64]
_Float = npt.NDArray[np.floating[Any]]  # the marker works in float32, the detector in float64

CHIP_S: Final = 0.04
BLOCK_CHIPS: Final = 64
BANDS: Final = 32
BAND_LOW_HZ: Final = 300.0
BAND_HIGH_HZ: Final = 7000.0
STRENGTH_DB: Final = 0.8  # tile gain of the combined pattern, before informed embedding
# Informed embedding: remove this multiple of the host's opposing projection, at most
# ISS_CAP_DB per tile (more would be audible where the host fights hardest).
ISS_GAIN: Final = 1.5
ISS_CAP_DB: Final = 2.0
STEP_S: Final = 0.01  # detector frame step: a quarter chip, the sync search's resolution
WHITEN_S: Final = 0.06  # half-width of the moving average removed from each band
CLIP_DB: Final = 4.0  # whitened tile values beyond this are onsets, not evidence
# A tile counts only when its band holds real content: above an absolute floor and within
# BAND_RANGE_DB of the frame's loudest band (codecs zero out what is far below it).
FLOOR_DBFS: Final = -90.0
BAND_RANGE_DB: Final = 50.0
MAX_DETECT_S: Final = 60.0
_SYNC_WEIGHT: Final = 0.5
_KEY_SEED: Final = 0xA0D1_2025
MIN_RATE_STEP: Final = 50  # marked audio's rate must be a multiple of this (whole-sample hop)

# Decision threshold, as for images (the same Chase decoder): a candidate is accepted only on a
# CRC-32 match, each with probability 2**-32 on unmarked audio; SYNC_CANDIDATES alignments x
# 2**CHASE_BITS flips.
SYNC_CANDIDATES: Final = 4
FALSE_POSITIVE_BOUND: Final = SYNC_CANDIDATES * 2**CHASE_BITS / 2.0**CRC_BITS
# Known-ID test, where a record names the ID: at least MATCH_AGREE of the 96 hard bits agree
# with that ID's codeword at one of the alignments. P(false match) = SYNC_CANDIDATES *
# P(Bin(96, 1/2) >= 75) ~= 5.4e-8, under the blind bound. On our own labeled output it confirms
# the mark from ~1 s of music and 4-6 s of read speech, where blind decoding needs 5-8 s and
# ~12 s (tests/watermark/test_audio_watermark.py).
MATCH_AGREE: Final = 75
MATCH_FALSE_POSITIVE_BOUND: Final = agreement_bound(MATCH_AGREE, SYNC_CANDIDATES)
# From this much audio the known-ID test confirmed every mark we measured on real speech (5 s
# windows: at least 76 of 96 bits; 8 s: 88); shorter speech may carry too little evidence.
CONFIRM_MIN_S: Final = 8.0

_FRAMES_PER_CHIP: Final = round(CHIP_S / STEP_S)
_FOLD: Final = BLOCK_CHIPS * _FRAMES_PER_CHIP


def _patterns() -> tuple[_F64, _F64, npt.NDArray[np.intp]]:
    rng = np.random.default_rng(_KEY_SEED)
    sync = rng.choice(np.array([-1.0, 1.0]), size=(BANDS, BLOCK_CHIPS))
    keys = rng.choice(np.array([-1.0, 1.0]), size=(BANDS, BLOCK_CHIPS))
    bit_of_tile = rng.permutation(np.arange(BANDS * BLOCK_CHIPS) % CODED_BITS)
    return sync, keys, bit_of_tile.reshape(BANDS, BLOCK_CHIPS)


_SYNC, _KEYS, _BIT_OF_TILE = _patterns()


def _mel_band_edges() -> _F64:
    """Band edges in Hz, equally spaced on the mel scale: bands as wide as hearing resolves."""
    low, high = 2595.0 * np.log10(1.0 + np.array([BAND_LOW_HZ, BAND_HIGH_HZ]) / 700.0)
    edges: _F64 = 700.0 * (10 ** (np.linspace(low, high, BANDS + 1) / 2595.0) - 1.0)
    return edges


_EDGES_HZ: Final = _mel_band_edges()


def _band_matrix(rate: int, n_fft: int) -> _F64:
    """(bins, BANDS) one-hot: which band each rfft bin of an n_fft frame belongs to."""
    freqs = np.fft.rfftfreq(n_fft, 1.0 / rate)
    band = np.searchsorted(_EDGES_HZ, freqs, side="right") - 1
    band[freqs >= BAND_HIGH_HZ] = -1
    one_hot: _F64 = (band[:, None] == np.arange(BANDS)[None, :]).astype(np.float64)
    return one_hot


def _log_energy(power: _Float, window: _Float) -> tuple[_Float, npt.NDArray[np.bool_]]:
    """Band log energies in dBFS (a full-scale sine in a band reads about 0) and which tiles
    hold content; `power` is (frames, BANDS) of summed |rfft|^2."""
    scale = 2.0 / float(np.sum(window) ** 2)
    db = 10.0 * np.log10(power * scale + 1e-12)
    loudest = db.max(axis=1, keepdims=True)
    active = (db > FLOOR_DBFS) & (db > loudest - BAND_RANGE_DB)
    return db, active


def _whiten(db: _Float, active: npt.NDArray[np.bool_], radius: int) -> _Float:
    """Per band, minus the moving average over active frames within `radius`; minus each
    frame's mean over its active bands; clipped; 0 where there is no content."""
    weight = active.astype(np.float64)
    width = 2 * radius + 1

    def smooth(a: _Float) -> _Float:  # moving sum over `width` frames, zero beyond the ends
        c = np.cumsum(np.pad(a, ((radius + 1, radius), (0, 0))), axis=0)
        out: _Float = c[width:] - c[:-width]
        return out

    local = smooth(db * weight) / np.maximum(smooth(weight), 1.0)
    res = (db - local) * weight
    count = weight.sum(axis=1, keepdims=True)
    res -= weight * res.sum(axis=1, keepdims=True) / np.maximum(count, 1.0)
    return np.clip(res, -CLIP_DB, CLIP_DB)


def _coded_signs(payload: int) -> _F64:
    check_payload(payload)
    return _crc_bits(payload).astype(np.float64) * 2 - 1


class AudioMarker:
    """Embed `payload` into a stream of (channels, n) float sample blocks at `rate`.

    ``push`` returns the marked samples that are final so far (it lags the input by about a
    watermark block); ``flush`` returns the rest. Output length equals input length.
    """

    def __init__(
        self, payload: int, rate: int, channels: int, *, strength_db: float = STRENGTH_DB
    ) -> None:
        if rate <= 0 or rate % MIN_RATE_STEP:
            raise ValueError(f"sample rate {rate} Hz is not a multiple of {MIN_RATE_STEP} Hz")
        if channels < 1:
            raise ValueError("need at least one channel")
        self._signs = _coded_signs(payload)
        pattern = self._signs[_BIT_OF_TILE] * _KEYS + _SYNC_WEIGHT * _SYNC
        self._pattern = strength_db * pattern / np.hypot(1.0, _SYNC_WEIGHT)
        self._channels = channels
        self._hop = rate * round(CHIP_S * 1000) // 2000  # two frames per chip
        self._n = 2 * self._hop
        self._offset = self._hop // 2  # frame m is centred a quarter chip into chip m // 2
        # sqrt-Hann analysis and synthesis: the product sums to one at this hop.
        hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(self._n) / self._n)
        self._window = np.sqrt(hann).astype(np.float32)
        self._bands = _band_matrix(rate, self._n).astype(np.float32)
        self._bin_band = np.where(self._bands.any(axis=1), self._bands.argmax(axis=1), BANDS)
        self._radius = round(WHITEN_S * 2 / CHIP_S)
        self._block = 0
        # buf[:, 0] is absolute sample _t0; the stream is preceded by virtual silence so the
        # first frames need no special case.
        self._t0 = self._frame_start(self._first_frame(0) - self._radius)
        # float32 throughout: the samples' own precision, and half the memory traffic
        self._buf = np.zeros((channels, -self._t0), np.float32)
        self._acc = np.zeros((channels, -self._t0), np.float32)
        self._pending: list[Samples] = []
        self._received = 0
        self._emitted = 0

    def _frame_start(self, m: int) -> int:
        return self._offset + (m - 1) * self._hop

    def _first_frame(self, block: int) -> int:
        # frame -1 (chip -1, unit gain) completes the overlap-add for the first samples
        return 2 * BLOCK_CHIPS * block - (1 if block == 0 else 0)

    def push(self, samples: npt.ArrayLike) -> Samples:
        block = np.asarray(samples, dtype=np.float32)
        if block.ndim != 2 or block.shape[0] != self._channels:
            raise ValueError(f"expected ({self._channels}, n) samples, got {block.shape}")
        self._pending.append(block)
        self._received += block.shape[1]
        out = []
        while True:
            last = self._first_frame(self._block + 1) + self._radius
            if self._frame_start(last) + self._n > self._received:
                break
            self._gather()
            out.append(self._mark_block(self._first_frame(self._block + 1)))
        return self._join(out)

    def _gather(self) -> None:
        """Move pushed blocks into the working buffer (once per watermark block, not per push:
        copying the buffer on every small push would be quadratic)."""
        if self._pending:
            self._buf = np.concatenate([self._buf, *self._pending], axis=1)
            self._acc = np.pad(self._acc, ((0, 0), (0, self._buf.shape[1] - self._acc.shape[1])))
            self._pending.clear()

    def flush(self) -> Samples:
        """The remaining marked samples; the marker is spent afterwards."""
        self._gather()
        end = self._received
        last_frame = (end - 1 - self._offset) // self._hop + 1  # last frame starting before end
        need = self._frame_start(last_frame + self._radius) + self._n - self._t0
        pad = max(0, need - self._buf.shape[1])
        self._buf = np.pad(self._buf, ((0, 0), (0, pad)))
        self._acc = np.pad(self._acc, ((0, 0), (0, pad)))
        out = []
        while self._first_frame(self._block) <= last_frame:
            stop = min(self._first_frame(self._block + 1), last_frame + 1)
            out.append(self._mark_block(stop))
        out.append(self._emit(end))
        return self._join(out)

    def _join(self, parts: list[Samples]) -> Samples:
        if not parts:
            return np.zeros((self._channels, 0), np.float32)
        return np.concatenate(parts, axis=1)

    def _mark_block(self, stop: int) -> Samples:
        """Mark frames [first frame of the current block, stop) and emit what is final."""
        start = self._first_frame(self._block)
        lo, hi = start - self._radius, stop + self._radius
        begin = self._frame_start(lo) - self._t0
        span_end = begin + (hi - lo - 1) * self._hop + self._n
        windows = sliding_window_view(self._buf[:, begin:span_end], self._n, axis=1)
        spectra = np.fft.rfft(windows[:, :: self._hop] * self._window, axis=2)  # (C, frames, bins)
        mono = spectra[0] if self._channels == 1 else spectra.sum(axis=0) / self._channels
        power = (mono.real**2 + mono.imag**2) @ self._bands
        db, active = _log_energy(power, self._window)
        host = _whiten(db, active, self._radius)[self._radius : self._radius + stop - start]
        frame_chips = np.arange(start, stop) // 2
        gains = self._tile_gains(
            host, active[self._radius : self._radius + stop - start], frame_chips
        )
        bin_gain = 10.0 ** (np.concatenate([gains, np.zeros((len(gains), 1))], axis=1) / 20.0)
        bin_gain = bin_gain.astype(np.float32)
        body = spectra[:, self._radius : self._radius + stop - start]
        frames = np.fft.irfft(body * bin_gain[:, self._bin_band], self._n, axis=2) * self._window
        # overlap-add: the first half of each frame meets the second half of the one before
        first = self._frame_start(start) - self._t0
        count = stop - start
        halves = frames.reshape(self._channels, count, 2, self._hop)
        span = np.zeros((self._channels, count + 1, self._hop), np.float32)
        span[:, :count] += halves[:, :, 0]
        span[:, 1:] += halves[:, :, 1]
        self._acc[:, first : first + (count + 1) * self._hop] += span.reshape(self._channels, -1)
        self._block += 1
        # samples before frame `stop` starts have all their frames now
        return self._emit(self._frame_start(stop))

    def _tile_gains(
        self, host: _Float, active: npt.NDArray[np.bool_], frame_chips: npt.NDArray[np.intp]
    ) -> _F64:
        """(frames, BANDS) gains in dB: the pattern plus the informed-embedding correction."""
        marked = frame_chips >= 0  # chip -1 precedes the stream: unit gain
        cols = frame_chips[marked] % BLOCK_CHIPS
        keys, bits = _KEYS[:, cols].T, _BIT_OF_TILE[:, cols].T  # (frames, BANDS)
        weight = active[marked]
        projection = np.bincount(
            bits.ravel(), weights=(host[marked] * keys * weight).ravel(), minlength=CODED_BITS
        )
        tiles = np.bincount(bits.ravel(), weights=weight.ravel(), minlength=CODED_BITS)
        # only the part of the host that pushes against the bit is removed
        opposing = np.minimum(projection * self._signs, 0.0) * self._signs
        per_tile = -ISS_GAIN * opposing / np.maximum(tiles, 1.0)
        correction = per_tile[bits] * keys
        # the same for the sync pattern, one projection for the whole block
        sync = _SYNC[:, cols].T
        against = min(float(np.sum(host[marked] * sync * weight)), 0.0)
        correction -= ISS_GAIN * against / max(float(weight.sum()), 1.0) * sync
        correction = np.clip(correction, -ISS_CAP_DB, ISS_CAP_DB) * weight
        gains = np.zeros((len(frame_chips), BANDS))
        gains[marked] = self._pattern[:, cols].T + correction
        return gains

    def _emit(self, until_abs: int) -> Samples:
        until = min(until_abs, self._received)
        if until <= self._emitted:
            return np.zeros((self._channels, 0), np.float32)
        out = self._acc[:, self._emitted - self._t0 : until - self._t0].astype(np.float32)
        self._emitted = until
        # keep what the next block's analysis window and overlap-add still need
        keep_from = self._frame_start(self._first_frame(self._block) - self._radius)
        drop = max(0, min(keep_from, self._emitted) - self._t0)
        self._buf, self._acc = self._buf[:, drop:], self._acc[:, drop:]
        self._t0 += drop
        return out


def embed(samples: npt.ArrayLike, rate: int, payload: int) -> Samples:
    """Mark a whole (channels, n) or (n,) signal held in memory (tests, short clips)."""
    arr = np.asarray(samples, dtype=np.float32)
    mono = arr.ndim == 1
    block = arr[None, :] if mono else arr
    marker = AudioMarker(payload, rate, block.shape[0])
    out = np.concatenate([marker.push(block), marker.flush()], axis=1)
    return out[0] if mono else out


class AudioDetector:
    """Blindly look for the mark in a stream fed in (channels, n) or (n,) blocks.

    Reads at most `max_seconds` (later samples are ignored, so a caller can stop decoding once
    `full` is true); memory is that many seconds of band energies, not samples.
    """

    def __init__(self, rate: int, *, max_seconds: float = MAX_DETECT_S) -> None:
        if rate <= 0:
            raise ValueError(f"bad sample rate {rate}")
        self._rate = rate
        self._n = round(rate * CHIP_S)
        self._window = np.hanning(self._n + 2)[1:-1]
        self._bands = _band_matrix(rate, self._n)
        self._max_frames = int(max_seconds / STEP_S)
        self._tail = np.zeros(0)
        self._tail_start = 0  # absolute index of _tail[0]
        self._frames = 0
        self._power: list[_F64] = []

    @property
    def full(self) -> bool:
        return self._frames >= self._max_frames

    @property
    def seconds(self) -> float:
        return self._frames * STEP_S

    def push(self, samples: npt.ArrayLike) -> None:
        if self.full:
            return
        arr = np.asarray(samples, dtype=np.float64)
        mono = arr if arr.ndim == 1 else arr.mean(axis=0)
        self._tail = np.concatenate([self._tail, mono])
        end = self._tail_start + len(self._tail)
        # frame i starts at round(i * rate * STEP_S): no drift at rates like 22,050 Hz
        upto = min(self._max_frames, int((end - self._n) / (self._rate * STEP_S)) + 2)
        starts = self._starts(np.arange(self._frames, max(upto, self._frames)))
        starts = starts[starts + self._n <= end]
        if len(starts):
            segs = self._tail[starts[:, None] - self._tail_start + np.arange(self._n)]
            spectra = np.fft.rfft(segs * self._window, axis=1)
            self._power.append((np.abs(spectra) ** 2) @ self._bands)
            self._frames += len(starts)
        drop = int(self._starts(np.array([self._frames]))[0]) - self._tail_start
        self._tail = self._tail[drop:]
        self._tail_start += drop

    def _starts(self, frames: npt.NDArray[np.int_]) -> npt.NDArray[np.int_]:
        starts: npt.NDArray[np.int_] = np.floor(frames * (self._rate * STEP_S) + 0.5).astype(
            np.int_
        )
        return starts

    def candidates(self) -> list[tuple[float, _F64]]:
        """(sync score, 96 soft bits) for the best alignments, best first."""
        if not self._power:
            return []
        db, active = _log_energy(np.concatenate(self._power), self._window)
        if not active.any():
            return []
        feat = _whiten(db, active, round(WHITEN_S / STEP_S))
        pad = -len(feat) % _FOLD
        fold = np.pad(feat, ((0, pad), (0, 0))).reshape(-1, _FOLD, BANDS).sum(axis=0)
        # chip value at shift s: the frames s .. s+3 (a chip) summed
        chips = sum(np.roll(fold, -d, axis=0) for d in range(_FRAMES_PER_CHIP))
        template = np.zeros((_FOLD, BANDS))
        template[::_FRAMES_PER_CHIP] = _SYNC.T
        spectrum = np.fft.rfft(chips, axis=0) * np.conj(np.fft.rfft(template, axis=0))
        score = np.fft.irfft(spectrum, _FOLD, axis=0).sum(axis=1)
        out = []
        for shift in np.argsort(score)[::-1][:SYNC_CANDIDATES]:
            tiles = chips[(shift + _FRAMES_PER_CHIP * np.arange(BLOCK_CHIPS)) % _FOLD].T
            soft = np.bincount(
                _BIT_OF_TILE.ravel(), weights=(tiles * _KEYS).ravel(), minlength=CODED_BITS
            ).astype(np.float64)
            out.append((float(score[shift]), soft))
        return out

    def result(self, expected: int | None = None) -> Detection:
        """Blind decoding; failing that, the known-ID test for `expected` (a record's ID)."""
        candidates = self.candidates()
        found = decode(candidates, FALSE_POSITIVE_BOUND)
        if found is None and expected is not None:
            found = match(candidates, expected, MATCH_AGREE, MATCH_FALSE_POSITIVE_BOUND)
        return found or Detection(False, None, 0.0, 0.0, FALSE_POSITIVE_BOUND)


def detect(samples: npt.ArrayLike, rate: int) -> Detection:
    """Look for the mark in a (channels, n) or (n,) signal held in memory."""
    detector = AudioDetector(rate)
    detector.push(samples)
    return detector.result()
