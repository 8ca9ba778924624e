"""Package metadata for siamfc (the ``tracker`` package and the ``siamfc`` command)."""
import subprocess
import sys
from pathlib import Path

from setuptools import find_packages, setup

OPENCV_DISTRIBUTIONS = ("opencv-contrib-python-headless", "opencv-contrib-python",
                        "opencv-python-headless", "opencv-python")


def opencv_requirement() -> str:
    """Keep whichever OpenCV build is installed in the target environment (they all provide
    cv2 and clash with each other); default to opencv-python. pip builds in an isolated
    environment, so the target interpreter is asked in a subprocess (-I: no PYTHONPATH)."""
    probe = ("import importlib.metadata as m\n"
             f"for n in {OPENCV_DISTRIBUTIONS!r}:\n"
             "    try:\n        m.version(n); print(n); break\n"
             "    except m.PackageNotFoundError: pass\n")
    try:
        found = subprocess.run([sys.executable, "-I", "-c", probe], capture_output=True,
                               text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        found = ""
    return f"{found or 'opencv-python'}>=4.8"


here = Path(__file__).parent
# the weights, their int8 calibrations and their score models (<weights>.score.json)
weights = sorted(str(p.relative_to(here)) for pattern in ("*.pth", "*.score.json")
                 for p in (here / "weights").glob(pattern))

setup(
    name="siamfc",
    version="0.1.0",
    description="SiamFC: a streaming single/multi-object tracker with fully-convolutional siamese networks",
    long_description=(here / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",      # torch==2.13.0 has wheels for 3.10 and newer
    packages=find_packages(include=["tracker", "tracker.*"]),
    data_files=[("share/siamfc/weights", weights)] if weights else [],
    install_requires=["torch>=2.1", "numpy>=1.23", "scipy>=1.9", opencv_requirement(), "tqdm>=4.60"],
    extras_require={
        "test": ["pytest>=7", "hypothesis>=6"],
        "eval": ["matplotlib>=3.5"],
        "ray": ["ray==2.60.0"],          # siamfc track/eval --ray (tracker/batch/cluster.py)
        "openvino": ["openvino==2026.4.1"],   # --runtime openvino (tracker/model/openvino.py)
        # siamfc quantize --openvino: the OpenVINO int8 network (NNCF; running it needs only openvino)
        "openvino-quantize": ["openvino==2026.4.1", "nncf==3.4.0"],
    },
    entry_points={"console_scripts": ["siamfc=tracker.cli:main"]},
    license="MIT",
)
