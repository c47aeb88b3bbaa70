"""Task `weapon`'s boxes: a YOLO text file per image, and which person boxes are armed.

../shared/CONTRACT.md: class 0 person, 1 weapon; a line is `class xc yc w h` (normalised) or
`class x1 y1 x2 y2 ...` for a polygon (its bounding box is used). A person is armed when a weapon box
lies mostly (over half its area) inside that person's box; the task is scored per person box.
A malformed line is a UserError naming the file and the line.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import UserError

PERSON, WEAPON = 0, 1
ARMED_INSIDE = 0.5   # the share of a weapon box's area inside a person box that makes the person armed


@dataclass(frozen=True)
class Box:
    cls: int
    x0: float   # normalised 0..1, x0 < x1, y0 < y1
    y0: float
    x1: float
    y1: float

    @property
    def area(self) -> float:
        return (self.x1 - self.x0) * (self.y1 - self.y0)

    def pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        """(x, y, w, h) in pixels, clipped to the image, at least 1 px each way."""
        x0 = min(max(int(round(self.x0 * width)), 0), width - 1)
        y0 = min(max(int(round(self.y0 * height)), 0), height - 1)
        x1 = min(max(int(round(self.x1 * width)), x0 + 1), width)
        y1 = min(max(int(round(self.y1 * height)), y0 + 1), height)
        return x0, y0, x1 - x0, y1 - y0


def read_boxes(path: str) -> list[Box]:
    """Every box of a YOLO file; polygons become their bounding boxes."""
    boxes = []
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: unreadable boxes file: {exc}") from None
    for n, line in enumerate(lines, start=1):
        parts = line.split()
        if not parts:
            continue
        try:
            cls, nums = int(parts[0]), [float(v) for v in parts[1:]]
        except ValueError:
            raise UserError(f"{path}:{n}: expected `class` and numbers, found {line.strip()!r}") from None
        if cls not in (PERSON, WEAPON):
            raise UserError(f"{path}:{n}: class {cls} is neither 0 (person) nor 1 (weapon)")
        if len(nums) == 4:
            xc, yc, w, h = nums
            x0, y0, x1, y1 = xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2
        elif len(nums) >= 6 and len(nums) % 2 == 0:
            xs, ys = nums[0::2], nums[1::2]
            x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
        else:
            raise UserError(f"{path}:{n}: {len(nums)} numbers; a box has 4 (xc yc w h), a polygon an even "
                            f"number of at least 6")
        x0, y0, x1, y1 = (min(max(v, 0.0), 1.0) for v in (x0, y0, x1, y1))
        if x1 <= x0 or y1 <= y0:
            raise UserError(f"{path}:{n}: empty box {line.strip()!r}")
        boxes.append(Box(cls, x0, y0, x1, y1))
    return boxes


def inside_share(inner: Box, outer: Box) -> float:
    """The share of `inner`'s area that lies inside `outer`."""
    w = min(inner.x1, outer.x1) - max(inner.x0, outer.x0)
    h = min(inner.y1, outer.y1) - max(inner.y0, outer.y0)
    return max(w, 0.0) * max(h, 0.0) / inner.area if inner.area > 0 else 0.0


def labelled_people(boxes: list[Box]) -> list[tuple[Box, bool]]:
    """Each person box and whether it is armed (a weapon box over half inside it)."""
    weapons = [b for b in boxes if b.cls == WEAPON]
    return [(p, any(inside_share(w, p) > ARMED_INSIDE for w in weapons)) for p in boxes if p.cls == PERSON]
