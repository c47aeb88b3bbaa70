"""One frame from a source, at the camera's own resolution, written to an image file: what a site
draws its regions on (`skimming.roi` is in these pixels).

    python -m sources.snapshot --source 0 --out snap.png [--skip 30]
"""

from __future__ import annotations

import argparse
import sys

import cv2

from core.errors import UserError
from sources.frame_source import FrameSource


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sources.snapshot", description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", required=True, help="camera index (0), video file, or stream URL")
    ap.add_argument("--out", required=True, help="image file (.png or .jpg)")
    ap.add_argument("--skip", type=int, default=30, help="frames to skip first (a camera's exposure settles)")
    args = ap.parse_args(argv)
    try:
        with FrameSource(args.source, reconnect=False) as src:
            frame = None
            for i, frame in enumerate(src):
                if i >= args.skip:
                    break
        if frame is None:
            raise UserError(f"{args.source}: no frame")
        if not cv2.imwrite(args.out, frame.raw):
            raise UserError(f"{args.out}: cannot write an image there (use .png or .jpg)")
    except UserError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    h, w = frame.raw.shape[:2]
    print(f"{args.out}: {w}x{h}, frame {frame.index} of {args.source}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
