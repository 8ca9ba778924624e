"""The response map's peak as SiamFC takes it: upsampled, normalised, blended with a cosine window."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..config import TrackerConfig
from ..geometry import hann_window


def bicubic_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """(n_out, n_in) matrix A with A @ R @ A.T equal to ``F.interpolate(R, (n_out, n_out),
    mode="bicubic", align_corners=False)`` for an (n_in, n_in) map R: bicubic upsampling is
    separable and linear, so two small matrix products replace it."""
    eye = torch.eye(n_in, dtype=torch.float64).view(n_in, 1, 1, n_in)
    rows = F.interpolate(eye, size=(1, n_out), mode="bicubic", align_corners=False)
    return rows.view(n_in, n_out).t().float().contiguous()


class ResponsePeak:
    """SiamFC's steps 3-4 on (response_size)^2 maps: bicubic upsampling by ``response_up`` and
    the peak of the normalised map blended with the Hann window (``window_influence``)."""

    def __init__(self, cfg: TrackerConfig, device: torch.device) -> None:
        self.size = cfg.upscaled_size
        self.window_influence = cfg.window_influence
        self._window = torch.tensor(hann_window(cfg.upscaled_size), dtype=torch.float32,
                                    device=device).view(1, -1)
        self._upsample = bicubic_matrix(cfg.response_size, cfg.upscaled_size).to(device)

    def upsample(self, maps: torch.Tensor) -> torch.Tensor:
        """(B, R, R) maps -> (B, M, M) bicubic-upsampled maps, M = ``upscaled_size``."""
        a = self._upsample
        return a @ maps @ a.t()

    def windowed_peak(self, up: torch.Tensor) -> torch.Tensor:
        """(n,) flat index of the peak of (n, M*M) upsampled maps, each shifted to a minimum of 0,
        normalised to sum 1 and blended with the Hann window (SiamFC's step 4)."""
        up = up - up.amin(dim=1, keepdim=True)
        up = up / (up.sum(dim=1, keepdim=True) + 1e-16)
        up = (1 - self.window_influence) * up + self.window_influence * self._window
        return torch.argmax(up, dim=1)

    def __call__(self, response: torch.Tensor) -> torch.Tensor:
        """(n, 2) (col, row) upsampled px of the peak of (n, R, R) logits, upsampled and windowed
        as the scale search does."""
        loc = self.windowed_peak(self.upsample(response).view(len(response), -1))
        return torch.stack([loc % self.size, loc // self.size], dim=1)
