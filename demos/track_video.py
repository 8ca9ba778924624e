"""Track one target through a video with the Python API and show it (q to quit).

    python demos/track_video.py VIDEO X Y W H
"""
import sys

import cv2

from tracker import SiamFCTracker
from tracker.media.annotate import draw_box
from tracker.media.video import FrameSource


def main() -> int:
    if len(sys.argv) != 6:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    video, box = sys.argv[1], tuple(float(v) for v in sys.argv[2:])
    tracker = SiamFCTracker.from_pretrained()
    with FrameSource(video) as frames:
        for index, frame in enumerate(frames):
            if index == 0:
                tracker.init(frame, box)
                shown = draw_box(frame, box)
            else:
                result = tracker.update(frame)
                shown = draw_box(frame, result.box, f"{result.score:.2f}")
            cv2.imshow("siamfc demo", shown)
            if cv2.waitKey(1) & 0xFF == ord("q"):
                break
    cv2.destroyAllWindows()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
