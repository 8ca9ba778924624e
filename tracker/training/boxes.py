"""Training targets and losses of the box head (SiamFC++, Xu et al. AAAI 2020).

Response cell (i, j) of an R x R map sits at search-crop pixel ``cell_positions``: the crop's
centre plus ``stride * (j - (R - 1) / 2)`` (x) and the same for i (y), as in the tracker. A
cell is positive when it lies inside the central ``shrink`` part of the target's box (the
cell nearest the target's centre always is); its regression targets are the distances to the
box's four sides and its quality target the centre-ness
sqrt(min(l, r) / max(l, r) * min(t, b) / max(t, b)).
Boxes are (cx, cy, w, h) in search-crop px; a NaN row is a negative pair (no target).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..model.heads import BoxOutput
from ..steps.regression import cell_positions
from .losses import logistic_loss

#: loss weights of SiamFC++: classification 1, quality 1, IoU 3
QUALITY_WEIGHT = 1.0
IOU_WEIGHT = 3.0


@dataclass(frozen=True)
class BoxTargets:
    """Per cell, (B, ., R, R): ``labels`` 1 on positives, ``ltrb`` side distances (px),
    ``quality`` centre-ness (both meaningful on positives only)."""

    labels: torch.Tensor
    ltrb: torch.Tensor
    quality: torch.Tensor


def box_targets(boxes: torch.Tensor, size: int = 17, stride: int = 8, instance_size: int = 255,
                shrink: float = 0.5) -> BoxTargets:
    """Targets of (B, 4) (cx, cy, w, h) search-crop boxes (NaN rows: negative pairs)."""
    pos = cell_positions(size, stride, instance_size).to(boxes.device)
    b = boxes.float()
    valid = torch.isfinite(b).all(dim=1)
    b = torch.where(valid[:, None], b, torch.zeros_like(b))
    cx, cy, w, h = (b[:, k].view(-1, 1, 1) for k in range(4))
    px, py = pos.view(1, 1, -1), pos.view(1, -1, 1)
    full = (len(b), size, size)
    left, right = (px - (cx - w / 2)).expand(full), ((cx + w / 2) - px).expand(full)
    top, bottom = (py - (cy - h / 2)).expand(full), ((cy + h / 2) - py).expand(full)
    inside = ((px - cx).abs() <= shrink * w / 2) & ((py - cy).abs() <= shrink * h / 2)
    nearest_x = (px - cx).abs() == (pos.view(1, -1) - b[:, :1]).abs().amin(dim=1).view(-1, 1, 1)
    nearest_y = (py - cy).abs() == (pos.view(1, -1) - b[:, 1:2]).abs().amin(dim=1).view(-1, 1, 1)
    inside = inside | (nearest_x & nearest_y)
    ltrb = torch.stack([left, top, right, bottom], dim=1)                    # (B, 4, R, R)
    inside = inside & (ltrb > 0).all(dim=1) & valid.view(-1, 1, 1)
    centreness = torch.sqrt((torch.minimum(left, right) / torch.maximum(left, right).clamp(min=1e-6)).clamp(min=0)
                            * (torch.minimum(top, bottom) / torch.maximum(top, bottom).clamp(min=1e-6)).clamp(min=0))
    return BoxTargets(inside.float()[:, None], ltrb, centreness[:, None])


def ltrb_iou(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """IoU of boxes given as side distances from the same point: (..., 4, ...) on dim 1 ->
    (B, ...)."""
    area_p = (pred[:, 0] + pred[:, 2]) * (pred[:, 1] + pred[:, 3])
    area_t = (target[:, 0] + target[:, 2]) * (target[:, 1] + target[:, 3])
    inter = ((torch.minimum(pred[:, 0], target[:, 0]) + torch.minimum(pred[:, 2], target[:, 2]))
             * (torch.minimum(pred[:, 1], target[:, 1]) + torch.minimum(pred[:, 3], target[:, 3])))
    return inter / (area_p + area_t - inter).clamp(min=1e-6)


def box_loss(out: BoxOutput, targets: BoxTargets) -> tuple[torch.Tensor, dict[str, float]]:
    """Class-balanced logistic loss of ``cls`` + 1 x BCE of ``quality`` against the
    centre-ness + 3 x (1 - IoU) of ``ltrb``, the last two over positive cells. Returns the
    total and its parts (floats, for the metrics)."""
    cls = logistic_loss(out.cls.float(), targets.labels)
    positive = targets.labels[:, 0] > 0.5                                     # (B, R, R)
    if positive.any():
        iou = ltrb_iou(out.ltrb.float(), targets.ltrb)[positive]
        iou_term = (1 - iou).mean()
        quality = F.binary_cross_entropy_with_logits(out.quality[:, 0].float()[positive],
                                                     targets.quality[:, 0][positive])
    else:
        iou = torch.zeros(0)
        iou_term = quality = out.ltrb.sum() * 0.0
    total = cls + QUALITY_WEIGHT * quality + IOU_WEIGHT * iou_term
    return total, {"cls": float(cls.detach()), "quality": float(quality.detach()),
                   "iou": float(iou.detach().mean()) if iou.numel() else float("nan")}


def shape_fit_sums(pred_ltrb: torch.Tensor, targets: BoxTargets) -> torch.Tensor:
    """(2, 5) sums over the positive cells for two least-squares fits of predicted on true:
    row 0 the log size 0.5 * log(w * h), row 1 the log aspect ratio log(w / h), each as
    (n, sum t, sum p, sum t^2, sum t * p) (``fit_slope`` turns a row into a slope). A slope
    below 1 means the head pulls its boxes towards the size (or shape) it usually sees rather
    than measuring the target's: in tracking that error feeds the next crop."""
    positive = targets.labels[:, 0] > 0.5                                      # (B, R, R)
    out = torch.zeros(2, 5, dtype=torch.float64)
    if not positive.any():
        return out

    def shape(ltrb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w = (ltrb[:, 0] + ltrb[:, 2]).clamp(min=1e-6)[positive].double()
        h = (ltrb[:, 1] + ltrb[:, 3]).clamp(min=1e-6)[positive].double()
        return 0.5 * torch.log(w * h), torch.log(w / h)

    for row, (t, p) in enumerate(zip(shape(targets.ltrb), shape(pred_ltrb.detach().float()))):
        out[row] = torch.stack([t.new_tensor(float(t.numel())), t.sum(), p.sum(),
                                (t * t).sum(), (t * p).sum()]).cpu()     # on the maps' device
    return out


def fit_slope(sums: torch.Tensor) -> float:
    """Least-squares slope of p on t from (n, sum t, sum p, sum t^2, sum t * p); NaN when the
    true values do not vary."""
    n, st, sp, stt, stp = (float(v) for v in sums)
    var = n * stt - st * st
    return (n * stp - st * sp) / var if n > 1 and var > 1e-9 * max(1.0, n * stt) else float("nan")
