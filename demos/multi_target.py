"""Track several targets with one batched backbone pass per frame; print their boxes.

    python demos/multi_target.py VIDEO X,Y,W,H [X,Y,W,H ...]
"""
import sys

from tracker import SiamFCMultiTracker
from tracker.geometry import parse_box
from tracker.media.video import FrameSource


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    boxes = [parse_box(b) for b in sys.argv[2:]]
    tracker = SiamFCMultiTracker.from_pretrained()
    with FrameSource(sys.argv[1]) as frames:
        for index, frame in enumerate(frames):
            if index == 0:
                tracker.init(frame, boxes)
                continue
            for r in tracker.update(frame):
                print(index, r.target_id, *(f"{v:.1f}" for v in r.box), f"{r.score:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
