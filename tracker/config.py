"""Tracker hyper-parameters: one frozen dataclass with the SiamFC paper's defaults.

Presets follow Bertinetto et al. 2016 (SiamFC-3s, SiamFC-5s); ``siamfc-1s`` searches one crop
and takes the size from DSST's scale filter (``steps/scale_filter.py``). Unknown keys and
out-of-range values raise ``ValueError``.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, TypeVar


T = TypeVar("T")


def is_number(value: Any) -> bool:
    """An int or float, not a bool (``True`` is an int in Python, never a size or probability)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def dataclass_from_dict(cls: type[T], values: Mapping[str, Any]) -> T:
    """``cls(**values)`` for a dataclass, with unknown keys a ``ValueError`` naming the known ones."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown keys {unknown}; known keys: {sorted(known)}")
    return cls(**dict(values))


BOX_PEAKS = ("cell", "response")
SCALE_ESTIMATES = ("pyramid", "filter")
ONLINE_FORMS = ("fourier", "conv")
FIRST_SAMPLES = 11   # the online model's augmented first-frame samples (steps/online.py)


@dataclass(frozen=True)
class TrackerConfig:
    """All numbers of the SiamFC tracking loop.

    Sizes are in pixels of the resized crops; ``total_stride`` is the network's.
    """

    exemplar_size: int = 127        # side of the exemplar crop z (px)
    instance_size: int = 255        # side of the search crop x (px)
    context: float = 0.5            # context margin p = context * (w + h)
    total_stride: int = 8           # backbone stride (response cell -> crop px; the tracker
    #   takes it from the network: 16 for mobilenetv2_s16)
    response_up: int = 16           # bicubic upsampling of the 17x17 response
    num_scales: int = 3             # scale pyramid size (odd)
    scale_estimate: str = "pyramid" # "pyramid": SiamFC's num_scales search crops per frame;
    #   "filter": one search crop and DSST's scale filter (steps/scale_filter.py)
    scale_filter_step: float = 1.02 # the filter's ratio between neighbouring of its 33 scales
    scale_filter_lr: float = 0.025  # its learning rate (DSST's)
    scale_step: float = 1.0375      # ratio between neighbouring scales
    scale_penalty: float = 0.9745   # multiplies non-central scale responses
    scale_lr: float = 0.59          # damping of the size update
    window_influence: float = 0.176 # weight of the Hann window (cosine window)
    min_scale: float = 0.2          # target size clamp, x initial size
    max_scale: float = 5.0
    # the box head (SiamFC++'s post-processing, its OTB values; weights with ``head="box"``
    # track from one search crop: num_scales and the upsampling do not apply)
    box_lr: float = 0.52            # damping of the size update, x the chosen cell's score
    box_window_influence: float = 0.21   # weight of the Hann window on the 17x17 scores
    penalty_k: float = 0.04         # penalty on changes of size and aspect ratio
    box_calibration: bool = True    # fit each target's regressed size and aspect ratio to 9
    #   warped crops of the first frame, where the box is known, and read later regressions
    #   through the fit (not in SiamFC++; see steps/regression.py)
    box_gain: bool = False          # instead: one factor per side, the known box over the
    #   head's box for it on the first frame (not in SiamFC++; replaces box_calibration)
    box_peak: str = "response"      # the centre: the peak of the upsampled classification map,
    #   as SiamFC places it, the size from the cell nearest to it; "cell": the best cell's
    #   box after the penalty and the window (SiamFC++)
    box_cells: int = 1              # with box_peak="response": the size is the score-weighted
    #   geometric mean of the regressed w, h over this many x this many cells around the peak
    #   (odd; 1: the nearest cell alone)
    # lost state and re-detection (not in the paper; the box is flagged, never dropped)
    lost_threshold: float = 0.35    # score below this ...
    lost_frames: int = 5            # ... for this many frames in a row -> lost
    recover_threshold: float = 0.7  # wide-search score needed to move a lost target there
    redetect: bool = False          # while lost, also search wider and jump to a better match
    redetect_factor: float = 3.0    # wide-search side, x the normal search side
    reference_frames: int = 5       # first updates whose mean peak is the target's reference
    # distractor-aware matching (DaSiamRPN; see steps/distractors.py)
    distractors: bool = False       # subtract the look-alikes' response when placing the target
    distractor_weight: float = 0.5  # alpha: how much of their response is subtracted
    distractor_gap: float = 3.0     # a secondary peak within this many logits of the peak ...
    distractors_per_frame: int = 2  # ... is stored (at most this many per frame) ...
    distractor_memory: int = 8      # ... in a memory of this many per target
    # several targets keep apart (not in the paper; see steps/exclusion.py)
    exclusion: bool = True          # another target's place is no candidate for a target
    exclusion_weight: float = 1.0   # x the response's spread (peak - median) pushed down there
    merge_iou: float = 0.5          # boxes overlapping this much: one object, the lower score
    #   flagged lost; pairs nesting this much (of the smaller box) do not exclude each other
    # the online target model (a correlation filter per target; see steps/online.py)
    online: bool = True             # learn each target's filter online, add its response
    online_form: str = "fourier"    # "fourier": a circular filter solved per frequency (ECO's);
    #   "conv": a compact convolutional filter on a sample memory (ATOM's; steps/online_conv.py)
    online_weight: float = 1.0      # weight of its (gained) response on the siamese logits
    online_lr: float = 0.025        # weight of each new sample in its memory (DSST's rate)
    online_reg: float = 0.01        # regularisation, x the mean spectral energy (DSST's lambda)
    online_channels: int = 32       # principal components of the features it filters
    online_steps: int = 5           # conjugate-gradient steps per update (ECO's)
    online_sigma: float = 0.1       # label width, x the target's side (KCF's)
    online_min_score: float = 0.5   # frames scoring at least this teach the filter
    online_shallow: bool = True     # also filter a shallow layer (exact pattern; ECO's)
    online_interval: int = 1        # refine the filters every this many learning frames
    online_kernel: int = 9          # conv form: filter side in feature cells (odd; ~ATOM's
    #   4x4 at stride 16 on targets of ~3.6 cells: ~1.1 x the target's side)
    online_memory: int = 50         # conv form: samples in each target's memory (DiMP's)
    box_online: bool = False        # the box heads' step uses it too (with online; off: it
    #   did not win there on otb-dev, 5 of 11 targets)
    name: str = field(default="siamfc-3s", compare=False)

    def __post_init__(self) -> None:
        def check(cond: bool, msg: str) -> None:
            if not cond:
                raise ValueError(f"TrackerConfig: {msg}")

        for key in ("exemplar_size", "instance_size", "total_stride", "response_up", "num_scales",
                    "lost_frames", "reference_frames", "distractors_per_frame",
                    "distractor_memory", "box_cells", "online_channels", "online_steps",
                    "online_interval", "online_kernel", "online_memory"):
            value = getattr(self, key)
            check(isinstance(value, int) and not isinstance(value, bool) and value > 0,
                  f"{key} must be a positive integer, got {value!r}")
        for key in ("context", "scale_step", "scale_penalty", "scale_lr", "window_influence",
                    "min_scale", "max_scale", "lost_threshold", "recover_threshold",
                    "redetect_factor", "distractor_weight", "distractor_gap", "box_lr",
                    "box_window_influence", "penalty_k", "online_weight", "online_lr",
                    "exclusion_weight", "merge_iou", "scale_filter_step", "scale_filter_lr",
                    "online_reg", "online_sigma", "online_min_score"):
            value = getattr(self, key)
            check(is_number(value) and math.isfinite(value),
                  f"{key} must be a finite number, got {value!r}")
        check(self.num_scales % 2 == 1, f"num_scales must be odd, got {self.num_scales}")
        check(self.instance_size > self.exemplar_size,
              f"instance_size ({self.instance_size}) must exceed exemplar_size ({self.exemplar_size})")
        check((self.instance_size - self.exemplar_size) % self.total_stride == 0,
              "instance_size - exemplar_size must be a multiple of total_stride")
        check(0.0 <= self.context <= 4.0, f"context must be in [0, 4], got {self.context}")
        check(self.scale_step >= 1.0 and self.scale_step <= 2.0,
              f"scale_step must be in [1, 2], got {self.scale_step}")
        check(0.0 < self.scale_penalty <= 1.0,
              f"scale_penalty must be in (0, 1], got {self.scale_penalty}")
        check(0.0 <= self.scale_lr <= 1.0, f"scale_lr must be in [0, 1], got {self.scale_lr}")
        check(0.0 <= self.window_influence <= 1.0,
              f"window_influence must be in [0, 1], got {self.window_influence}")
        for key in ("box_lr", "box_window_influence"):
            check(0.0 <= getattr(self, key) <= 1.0,
                  f"{key} must be in [0, 1], got {getattr(self, key)}")
        check(self.penalty_k >= 0.0, f"penalty_k must be >= 0, got {self.penalty_k}")
        check(0.0 < self.min_scale <= 1.0 <= self.max_scale,
              f"need 0 < min_scale <= 1 <= max_scale, got {self.min_scale}, {self.max_scale}")
        for key in ("online_lr", "online_min_score"):
            check(0.0 <= getattr(self, key) <= 1.0,
                  f"{key} must be in [0, 1], got {getattr(self, key)}")
        check(self.exclusion_weight >= 0.0,
              f"exclusion_weight must be >= 0, got {self.exclusion_weight}")
        check(0.0 < self.merge_iou <= 1.0, f"merge_iou must be in (0, 1], got {self.merge_iou}")
        check(self.online_weight >= 0.0, f"online_weight must be >= 0, got {self.online_weight}")
        check(self.online_reg > 0.0, f"online_reg must be > 0, got {self.online_reg}")
        check(self.online_sigma > 0.0, f"online_sigma must be > 0, got {self.online_sigma}")
        for key in ("redetect", "distractors", "box_gain", "box_calibration", "online",
                    "exclusion", "online_shallow", "box_online"):
            check(isinstance(getattr(self, key), bool),
                  f"{key} must be true or false, got {getattr(self, key)!r}")
        check(self.scale_estimate in SCALE_ESTIMATES, "scale_estimate must be one of "
              f"{', '.join(SCALE_ESTIMATES)}, got {self.scale_estimate!r}")
        check(1.0 < self.scale_filter_step <= 1.2,
              f"scale_filter_step must be in (1, 1.2], got {self.scale_filter_step}")
        check(0.0 < self.scale_filter_lr <= 1.0,
              f"scale_filter_lr must be in (0, 1], got {self.scale_filter_lr}")
        check(self.box_cells % 2 == 1, f"box_cells must be odd, got {self.box_cells}")
        check(self.online_form in ONLINE_FORMS,
              f"online_form must be one of {', '.join(ONLINE_FORMS)}, got {self.online_form!r}")
        check(self.online_kernel % 2 == 1, f"online_kernel must be odd, got {self.online_kernel}")
        check(self.online_memory >= FIRST_SAMPLES, "online_memory must hold the first frame's "
              f"{FIRST_SAMPLES} samples, got {self.online_memory}")
        check(self.box_cells == 1 or self.box_peak == "response",
              "box_cells pools the cells around the response peak: it needs box_peak=response")
        check(self.box_peak in BOX_PEAKS,
              f"box_peak must be one of {', '.join(BOX_PEAKS)}, got {self.box_peak!r}")
        check(0.0 <= self.distractor_weight <= 1.0,
              f"distractor_weight must be in [0, 1], got {self.distractor_weight}")
        check(self.distractor_gap >= 0.0, f"distractor_gap must be >= 0, got {self.distractor_gap}")
        check(0.0 <= self.lost_threshold <= self.recover_threshold <= 1.0,
              "need 0 <= lost_threshold <= recover_threshold <= 1, got "
              f"{self.lost_threshold}, {self.recover_threshold}")
        check(1.0 <= self.redetect_factor <= 8.0,
              f"redetect_factor must be in [1, 8], got {self.redetect_factor}")

    @property
    def response_size(self) -> int:
        """Side of the raw response map (17 for 255/127/8)."""
        return (self.instance_size - self.exemplar_size) // self.total_stride + 1

    @property
    def search_crops(self) -> int:
        """Search crops per target and frame of the scale step: ``num_scales``, or 1 with the
        scale filter."""
        return 1 if self.scale_estimate == "filter" else self.num_scales

    @property
    def upscaled_size(self) -> int:
        """Side of the upsampled response map (272 for 17 x 16)."""
        return self.response_size * self.response_up

    @property
    def wide_size(self) -> int:
        """Side (px) of the re-detection crop: about ``redetect_factor`` x the search crop,
        rounded so that the response cells stay on the stride grid."""
        cells = round((self.redetect_factor * self.instance_size - self.exemplar_size) / self.total_stride)
        return self.exemplar_size + self.total_stride * max(cells, self.response_size - 1)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "TrackerConfig":
        """Build from a mapping; unknown keys raise ``ValueError``."""
        return dataclass_from_dict(cls, values)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> "TrackerConfig":
        """A named preset (``siamfc-3s`` or ``siamfc-5s``), optionally with overrides."""
        try:
            values = PRESETS[name]
        except KeyError:
            raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None
        return cls.from_dict({**values, "name": name, **overrides})

    def with_stride(self, stride: int) -> "TrackerConfig":
        """This config for a network of total stride ``stride`` (itself when it has it)."""
        return self if stride == self.total_stride else self.replace(total_stride=stride)

    def replace(self, **changes: Any) -> "TrackerConfig":
        """A copy with some fields changed (validated; unknown keys raise)."""
        return TrackerConfig.from_dict({**dataclasses.asdict(self), **changes})


PRESETS: dict[str, dict[str, Any]] = {
    "siamfc-3s": {},
    "siamfc-5s": {"num_scales": 5, "scale_step": 1.0255, "scale_penalty": 0.962,
                  "scale_lr": 0.34, "window_influence": 0.168},
    "siamfc-1s": {"scale_estimate": "filter"},    # not the paper's: one crop, DSST's scale
}

#: the preset a network tracks with when none is given (``preset_for``): one search crop with
#: DSST's scale filter for the light networks, where otb-dev measured it about as accurate as
#: three crops at a third of the backbone's work (mobilenetv2_64: 0.665 against 0.661; --fast's
#: mobilenetv2_s16: 0.636-0.650 against 0.645), SiamFC's three scales for the others
NETWORK_PRESETS: dict[str, str] = {"mobilenetv2_64": "siamfc-1s", "mobilenetv2_s16": "siamfc-1s"}


def preset_for(backbone: str | None) -> str:
    """The preset of ``NETWORK_PRESETS`` for a backbone name, else ``siamfc-3s`` (the paper's)."""
    return NETWORK_PRESETS.get(backbone or "", "siamfc-3s")


def resolve_config(config: TrackerConfig | str | None, backbone: str | None) -> TrackerConfig:
    """``config`` itself, the preset it names, or for None the preset of the ``backbone``
    network (``preset_for``)."""
    if isinstance(config, str):
        return TrackerConfig.preset(config)
    return config if config is not None else TrackerConfig.preset(preset_for(backbone))
