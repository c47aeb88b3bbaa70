"""Image preprocessing chain of the method: grey, denoise, threshold, sharpen, focus measure.

Every function works on small uint8 frames (about 160x90) once per frame, so each one is a
handful of OpenCV/numpy calls with no Python loop over pixels.

Threshold convention used everywhere in the project: a pixel is foreground when value > T.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = [
    "to_grey",
    "shrink",
    "median3_zero",
    "ZeroPaddedMedian",
    "otsu_threshold",
    "iterative_threshold",
    "binarize",
    "GlobalThreshold",
    "highpass_sharpen",
    "sharpened",
    "sharpness",
    "HIGHPASS_KERNEL",
]

# 8 * centre minus the 8 neighbours; the method divides the sum by 9 afterwards.
HIGHPASS_KERNEL = np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], dtype=np.float32)
HIGHPASS_KERNEL.flags.writeable = False

METHODS = ("otsu", "iterative", "fixed")


def _check_grey(img: np.ndarray, name: str = "img") -> np.ndarray:
    """Return `img` if it is a 2-D uint8 array with at least one pixel, else raise ValueError."""
    if not isinstance(img, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(img).__name__}")
    if img.ndim != 2 or img.dtype != np.uint8:
        raise ValueError(f"{name} must be a 2-D uint8 grey image, got shape {img.shape} dtype {img.dtype}")
    if img.size == 0:
        raise ValueError(f"{name} is empty (shape {img.shape})")
    return img


def _check_level(value, name: str) -> float:
    """Return `value` as a float in 0..255, else raise ValueError."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in 0..255, got {value!r}") from None
    if not (0.0 <= v <= 255.0):  # also rejects NaN
        raise ValueError(f"{name} must be in 0..255, got {value!r}")
    return v


def to_grey(frame: np.ndarray) -> np.ndarray:
    """Convert a BGR uint8 frame (H, W, 3) to a grey uint8 image (H, W).

    Uses OpenCV's weights (0.299 R + 0.587 G + 0.114 B, rounded to nearest). A 2-D uint8
    input is already grey and is returned as-is (the same object, no copy).
    Raises ValueError for any other shape or dtype.
    """
    if not isinstance(frame, np.ndarray):
        raise ValueError(f"frame must be a numpy array, got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise ValueError(f"frame must be uint8, got dtype {frame.dtype}")
    if frame.ndim == 2:
        return frame
    if frame.ndim == 3 and frame.shape[2] == 3:
        return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    raise ValueError(f"frame must be (H, W) grey or (H, W, 3) BGR, got shape {frame.shape}")


def shrink(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-average `img` down to `size` (w, h), halving first while it is at least twice too wide.

    OpenCV's INTER_AREA has a fast path for exact 2x reductions and a slow general one; a 640->160
    reduction done as 640->320->160 costs about a tenth of the direct call and averages the same
    pixels (a 4x4 box is two 2x2 boxes). The returned array may be `img` itself when no resize is needed.
    """
    w, h = size
    while img.shape[1] >= 2 * w and img.shape[0] >= 2 * h:
        img = cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2), interpolation=cv2.INTER_AREA)
    if (img.shape[1], img.shape[0]) != (w, h):
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    return img


def median3_zero(img: np.ndarray) -> np.ndarray:
    """3x3 median filter where pixels outside the image count as 0 (zero padding).

    cv2.medianBlur alone would replicate the border, which keeps bright borders bright; the
    method pads with zeros, which pulls border pixels (corners most) towards dark.
    Returns a new uint8 array with the shape of `img`.
    """
    _check_grey(img)
    padded = cv2.copyMakeBorder(img, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    # Exact, not an approximation: every pixel of the original lies at least one pixel inside
    # `padded`, so its whole 3x3 window is made of real pixels and the explicit zeros.
    # medianBlur's own (replicated) border is only ever read for the padded ring, which we crop.
    return cv2.medianBlur(padded, 3)[1:-1, 1:-1].copy()


class ZeroPaddedMedian:
    """median3_zero for a stream of same-size frames, reusing its buffers (the per-frame path).

    The result is a view into a buffer the next call overwrites: copy it to keep it.
    """

    def __init__(self):
        self._pad: np.ndarray | None = None
        self._out: np.ndarray | None = None

    def __call__(self, img: np.ndarray) -> np.ndarray:
        if self._pad is None or self._pad.shape != (img.shape[0] + 2, img.shape[1] + 2):
            _check_grey(img)
            self._pad = np.zeros((img.shape[0] + 2, img.shape[1] + 2), np.uint8)  # the ring stays 0
            self._out = np.empty_like(self._pad)
        self._pad[1:-1, 1:-1] = img
        cv2.medianBlur(self._pad, 3, dst=self._out)
        return self._out[1:-1, 1:-1]


def _otsu(img: np.ndarray) -> tuple[float, np.ndarray | None]:
    """Otsu's T and OpenCV's mask for it (None for a constant image, where T is the constant)."""
    _check_grey(img)
    lo, hi, _, _ = cv2.minMaxLoc(img)
    if lo == hi:
        return float(lo), None
    t, mask = cv2.threshold(img, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    return float(t), mask


def otsu_threshold(img: np.ndarray) -> float:
    """Otsu's threshold T of a grey uint8 image (foreground: value > T).

    T is the integer level maximising the between-class variance of {<= T} versus {> T}
    (OpenCV's THRESH_OTSU; on ties the lowest such level). For a constant image Otsu is
    undefined and OpenCV would return 0, making every non-zero pixel foreground; we return
    the constant itself instead so that nothing is foreground, as iterative_threshold does.
    """
    return _otsu(img)[0]


def iterative_threshold(img: np.ndarray, tol: float = 0.5, max_iter: int = 100, t0: float | None = None) -> float:
    """Basic global threshold (Gonzalez & Woods) of a grey uint8 image.

    Start at T = mean(img) (or `t0`), split into G1 = {value > T} and G2 = {value <= T},
    set T = (mean(G1) + mean(G2)) / 2, and repeat until |T_new - T| < tol (or the split no
    longer moves, or `max_iter` updates were made). Returns the last T computed (a float).

    Degenerate cases: a constant image returns its value (the mean; G1 is empty).
    If `t0` leaves one group empty (t0 below the minimum or at/above the maximum) the
    iteration restarts from the mean, which always splits a non-constant image in two;
    after that neither group can become empty again (min <= mean(G2) < T_new < mean(G1) <= max).
    """
    _check_grey(img)
    tol = float(tol)
    if not tol >= 0.0:
        raise ValueError(f"tol must be >= 0, got {tol!r}")
    if int(max_iter) < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter!r}")

    # Work on the 256-bin histogram so each iteration costs O(256), not O(pixels).
    counts = np.bincount(img.ravel(), minlength=256).astype(np.float64)
    cum_n = np.cumsum(counts)  # cum_n[k] = number of pixels <= k
    cum_s = np.cumsum(counts * np.arange(256))  # cum_s[k] = sum of pixels <= k
    n_all, s_all = cum_n[-1], cum_s[-1]
    mean = s_all / n_all

    def split(t: float):
        # Pixel values are integers, so value <= t exactly when value <= floor(t).
        k = math.floor(t)
        if k < 0:
            n2, s2 = 0.0, 0.0
        elif k >= 255:
            n2, s2 = n_all, s_all
        else:
            n2, s2 = cum_n[k], cum_s[k]
        return n2, s2, n_all - n2, s_all - s2

    t = mean if t0 is None else float(t0)
    if not math.isfinite(t):
        raise ValueError(f"t0 must be a finite number, got {t0!r}")
    n2, _, n1, _ = split(t)
    if n1 == 0 or n2 == 0:
        t = mean
        n2, _, n1, _ = split(t)
        if n1 == 0 or n2 == 0:
            return float(mean)  # constant image: nothing is above its mean

    for _ in range(int(max_iter)):
        n2, s2, n1, s1 = split(t)
        t_new = 0.5 * (s1 / n1 + s2 / n2)
        delta = abs(t_new - t)
        t = t_new
        if delta < tol or delta == 0.0:
            break
    return float(t)


def binarize(img: np.ndarray, t: float) -> np.ndarray:
    """Foreground mask of a grey uint8 image: 255 where img > t, else 0 (uint8, same shape).

    `t` may be fractional or outside 0..255. cv2.threshold on uint8 compares with floor(t),
    and for integer pixel values v > floor(t) exactly when v > t, so this is exact
    (t < 0 gives all 255, t >= 255 all 0).
    """
    _check_grey(img)
    t = float(t)
    if math.isnan(t):
        raise ValueError("threshold t is NaN")
    _, mask = cv2.threshold(img, t, 255, cv2.THRESH_BINARY)
    return mask


class GlobalThreshold:
    """One global threshold per frame, by Otsu, by the iterative method, or fixed.

    `threshold(img)` never returns less than `floor`, so a dark, nearly empty scene cannot
    turn sensor noise into foreground. The method can be switched at run time (for example
    an operator fixing the threshold), and every argument is validated with a clear message.
    """

    def __init__(self, method: str = "otsu", value: float | None = None, floor: float = 0.0, tol: float = 0.5,
                 ceiling: float = 255.0):
        self.value = None if value is None else _check_level(value, "value")
        self.floor = _check_level(floor, "floor")
        self.ceiling = _check_level(ceiling, "ceiling")
        if self.ceiling < self.floor:
            raise ValueError(f"ceiling {ceiling!r} is below floor {floor!r}")
        tol_f = float(tol)
        if not tol_f >= 0.0:
            raise ValueError(f"tol must be >= 0, got {tol!r}")
        self.tol = tol_f
        self.method = "otsu"
        self.set_method(method)

    def set_method(self, method: str) -> None:
        """Switch to "otsu", "iterative" or "fixed" ("fixed" needs a value already set)."""
        if method not in METHODS:
            raise ValueError(f"unknown threshold method {method!r}; expected one of {', '.join(METHODS)}")
        if method == "fixed" and self.value is None:
            raise ValueError("method 'fixed' needs a value in 0..255 (use set_fixed(value))")
        self.method = method

    def set_fixed(self, value: float) -> None:
        """Switch to a fixed threshold `value` (0..255) at run time."""
        self.value = _check_level(value, "value")
        self.method = "fixed"

    def threshold(self, img: np.ndarray) -> float:
        """The threshold for this grey uint8 image under the current method, within [floor, ceiling].

        The clamp does not apply to a fixed value: an operator who fixes the threshold gets it.
        """
        return self._threshold(img)[0]

    def _threshold(self, img: np.ndarray) -> tuple[float, np.ndarray | None]:
        """(T, the mask for T if computing T gave it already)."""
        _check_grey(img)
        if self.method == "fixed":
            return float(self.value), None
        if self.method == "otsu":
            t, mask = _otsu(img)
        else:
            t, mask = iterative_threshold(img, tol=self.tol), None
        clamped = float(min(max(t, self.floor), self.ceiling))
        return clamped, (mask if clamped == t else None)

    def apply(self, img: np.ndarray) -> tuple[np.ndarray, float]:
        """Return (mask, t): the uint8 foreground mask (255 where img > t) and the threshold used."""
        # Otsu's own call gives its mask; it is kept unless the clamp moved T (the per-frame path).
        t, mask = self._threshold(img)
        return (binarize(img, t) if mask is None else mask), t

    def __repr__(self) -> str:
        return f"GlobalThreshold(method={self.method!r}, value={self.value!r}, floor={self.floor!r}, tol={self.tol!r})"


def _highpass_sum(img: np.ndarray) -> np.ndarray:
    """8 * centre minus the 8 neighbours, replicated border, as exact float32 integers."""
    # float32 holds every possible sum (|sum| <= 8 * 255) exactly, so no rounding yet.
    return cv2.filter2D(img.astype(np.float32), cv2.CV_32F, HIGHPASS_KERNEL, borderType=cv2.BORDER_REPLICATE)


def highpass_sharpen(img: np.ndarray) -> np.ndarray:
    """High-pass image of the method: out = clip(trunc(S / 9), 0, 255) as uint8.

    S = 8 * centre - (sum of the 8 neighbours), with the border replicated (a pixel outside
    the image takes the value of the nearest edge pixel). Rounding is toward zero; since
    negative values are clamped to 0 anyway, for the kept values that is floor(S / 9)
    (e.g. S = 120 -> 13). The clamp at 255 is kept for definition's sake; with uint8 input
    S / 9 <= 8 * 255 / 9 < 227, so it never acts. A flat image gives all zeros.
    """
    _check_grey(img)
    s = _highpass_sum(img)
    # S is an exact integer, so S / 9 is correctly rounded and never crosses an integer
    # wrongly before the truncation.
    return np.clip(np.trunc(s / 9.0), 0, 255).astype(np.uint8)


def sharpened(img: np.ndarray, signed: bool = False) -> np.ndarray:
    """Sharpened image: clip(img + highpass, 0, 255) as uint8 ("add the high-pass back").

    By default highpass = highpass_sharpen(img), the method's clamped (non-negative) high-pass,
    so edges are only brightened on their bright side. With signed=True the unclamped
    trunc(S / 9) is added instead, which also darkens the dark side of an edge (the usual
    unsharp-style sharpening).
    """
    _check_grey(img)
    if signed:
        hp = np.trunc(_highpass_sum(img) / 9.0)
    else:
        hp = highpass_sharpen(img).astype(np.float32)
    return np.clip(img.astype(np.float32) + hp, 0, 255).astype(np.uint8)


def sharpness(img: np.ndarray) -> float:
    """Focus measure: variance of the Laplacian (cv2.Laplacian, CV_64F, 3x3 aperture).

    A defocused or covered lens loses high frequencies, so this drops; 0 for a flat image.
    """
    _check_grey(img)
    return float(cv2.Laplacian(img, cv2.CV_64F).var())


def disk(radius: int) -> np.ndarray | None:
    """The disk structuring element of `radius` pixels (None for 0: no closing)."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1)) if radius > 0 else None


def close(mask: np.ndarray, kernel: np.ndarray | None) -> np.ndarray:
    """Morphological closing with `kernel` (`mask` itself when there is none)."""
    return mask if kernel is None else cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
