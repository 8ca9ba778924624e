"""The siamese network: a backbone (shared by both crops, or one per branch) followed by the
cross-correlation head."""
from __future__ import annotations

import copy

import torch
from torch import nn

from .backbones import build_backbone
from .heads import XCorrHead


#: key of the saved weights that names the backbone (utf-8 bytes as a uint8 tensor): registered
#: backbones may share their tensors' names and shapes (variants that differ only in a setting)
NAME_KEY = "siamfc.backbone"


BRANCHES = ("shared", "separate")
#: prefix of the search branch's tensors in weights files of ``branches="separate"``
SEARCH_BRANCH = "search_backbone."


class SiamNet(nn.Module):
    """f(z, x) = adjust * (phi(z) * psi(x)) (+ b), with phi a registered backbone.

    ``backbone`` is a registry name or an ``nn.Module`` with stride 8 whose exemplar and search
    feature maps differ by 16 cells (17x17 responses for 127 and 255 px crops).
    ``branches="shared"`` (the siamese network, SiamFC's): psi = phi. ``"separate"`` (a
    pseudo-siamese network): psi has phi's architecture and starting weights, and its own
    weights from then on (``search_backbone``; its tensors say so in a weights file).
    """

    def __init__(self, backbone: str | nn.Module = "alexnet", adjust: float = 0.001,
                 branches: str = "shared") -> None:
        super().__init__()
        if branches not in BRANCHES:
            raise ValueError(f"branches must be one of {BRANCHES}, got {branches!r}")
        self.backbone_name = backbone if isinstance(backbone, str) else type(backbone).__name__
        self.backbone = build_backbone(backbone) if isinstance(backbone, str) else backbone
        self.search_backbone = copy.deepcopy(self.backbone) if branches == "separate" else None
        # the paper's bias b: for the backbones that ask for it (those trained since it came)
        self.head = XCorrHead(adjust, bias=getattr(self.backbone, "head_bias", False))

    @property
    def branches(self) -> str:
        """``shared`` or ``separate``."""
        return "separate" if self.search_backbone is not None else "shared"

    def backbones(self) -> list[nn.Module]:
        """The distinct backbones: [phi] (shared) or [phi, psi] (separate)."""
        return [self.backbone] + ([self.search_backbone] if self.search_backbone is not None else [])

    def copy_exemplar_branch(self) -> None:
        """Start the search branch from the exemplar branch's current weights (separate only:
        after an initialisation that touched only ``backbone``)."""
        if self.search_backbone is not None:
            self.search_backbone.load_state_dict(self.backbone.state_dict())

    def features(self, crops: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) BGR 0-255 exemplar crops -> (B, C, h, w) features (phi)."""
        return self.backbone(crops)

    def search_features(self, crops: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) BGR 0-255 search crops -> (B, C, h, w) features (psi)."""
        branch = self.search_backbone if self.search_backbone is not None else self.backbone
        return branch(crops)

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, 127, 127) exemplars and (N*K, 3, 255, 255) searches -> (N*K, 1, 17, 17)."""
        return self.head(self.features(z), self.search_features(x))


def name_tensor(name: str) -> torch.Tensor:
    """A backbone name as the (len,) uint8 tensor stored under ``NAME_KEY``."""
    return torch.frombuffer(bytearray(name.encode()), dtype=torch.uint8).clone()


def weights_state(model: SiamNet) -> dict[str, torch.Tensor]:
    """What a weights file holds: the state dict and the backbone's name (``NAME_KEY``)."""
    return {**model.state_dict(), NAME_KEY: name_tensor(model.backbone_name)}


def backbone_from_state(state: dict[str, torch.Tensor]) -> str | None:
    """The backbone name stored in a weights state (removed from ``state``), or None."""
    name = state.pop(NAME_KEY, None)
    return None if name is None else bytes(name.to(torch.uint8).tolist()).decode(errors="replace")


def branches_of(state: dict[str, torch.Tensor]) -> str:
    """``separate`` when a weights state holds a search branch of its own, else ``shared``."""
    return "separate" if any(k.startswith(SEARCH_BRANCH) for k in state) else "shared"


def init_weights(model: nn.Module) -> None:
    """Kaiming-normal convolutions, unit BatchNorm (training from scratch). Fixed layers (a
    convolution without gradients, e.g. an input normalisation) are left as they are."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d) and not m.weight.requires_grad:
            continue
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
