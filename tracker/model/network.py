"""The siamese network: a backbone (shared by both crops, or one per branch) followed by a head:
SiamFC's cross-correlation (``xcorr``), SiamFC++'s box regression (``box``), or SiamFC's
response with SiamFC++'s box branch beside it (``xcorr-box``)."""
from __future__ import annotations

import copy

import torch
from torch import nn

from .backbones import build_backbone
from .heads import BoxHead, BoxOutput, XCorrBoxHead, XCorrHead


#: key of the saved weights that names the backbone (utf-8 bytes as a uint8 tensor): registered
#: backbones may share their tensors' names and shapes (variants that differ only in a setting)
NAME_KEY = "siamfc.backbone"


BRANCHES = ("shared", "separate")
#: prefix of the search branch's tensors in weights files of ``branches="separate"``
SEARCH_BRANCH = "search_backbone."
HEADS = ("xcorr", "box", "xcorr-box")
#: heads that regress the box (one search crop per frame in the tracker)
BOX_HEADS = ("box", "xcorr-box")
#: tensors only the box head and the xcorr-box head have (how a weights file says its head)
BOX_HEAD_KEY = "head.box_out.weight"
XCORR_BOX_HEAD_KEY = "head.quality_out.weight"


class SiamNet(nn.Module):
    """f(z, x) = adjust * (phi(z) * psi(x)) (+ b), with phi a registered backbone.

    ``backbone`` is a registry name or an ``nn.Module`` with stride 8 whose exemplar and search
    feature maps differ by 16 cells (17x17 responses for 127 and 255 px crops).
    ``branches="shared"`` (the siamese network, SiamFC's): psi = phi. ``"separate"`` (a
    pseudo-siamese network): psi has phi's architecture and starting weights, and its own
    weights from then on (``search_backbone``; its tensors say so in a weights file).
    ``head="xcorr"``: the paper's response map; ``"box"``: SiamFC++'s per-cell classification,
    quality and box (``BoxHead``; ``forward`` returns a ``BoxOutput``); ``"xcorr-box"``: the
    paper's response as the classification and SiamFC++'s box branch (``XCorrBoxHead``, also
    a ``BoxOutput``).
    """

    def __init__(self, backbone: str | nn.Module = "alexnet", adjust: float = 0.001,
                 branches: str = "shared", head: str = "xcorr") -> None:
        super().__init__()
        if branches not in BRANCHES:
            raise ValueError(f"branches must be one of {BRANCHES}, got {branches!r}")
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {head!r}")
        self.backbone_name = backbone if isinstance(backbone, str) else type(backbone).__name__
        self.backbone = build_backbone(backbone) if isinstance(backbone, str) else backbone
        self.search_backbone = copy.deepcopy(self.backbone) if branches == "separate" else None
        # the paper's bias b: for the backbones that ask for it (those trained since it came)
        bias = getattr(self.backbone, "head_bias", False)
        self.head: nn.Module
        if head == "box":
            self.head = BoxHead(feature_channels(self.backbone))
        elif head == "xcorr-box":
            self.head = XCorrBoxHead(feature_channels(self.backbone), adjust, bias=bias)
        else:
            self.head = XCorrHead(adjust, bias=bias)

    @property
    def head_kind(self) -> str:
        """``xcorr``, ``box`` or ``xcorr-box``."""
        if isinstance(self.head, XCorrBoxHead):
            return "xcorr-box"
        return "box" if isinstance(self.head, BoxHead) else "xcorr"

    @property
    def regresses_box(self) -> bool:
        """The head regresses the box (``box``, ``xcorr-box``): one search crop per frame."""
        return self.head_kind in BOX_HEADS

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

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor | BoxOutput:
        """(N, 3, 127, 127) exemplars and (N*K, 3, 255, 255) searches -> (N*K, 1, 17, 17)
        response logits (xcorr head) or a ``BoxOutput`` of 17x17 maps (box head)."""
        return self.head(self.features(z), self.search_features(x))

    def response(self, z_feat: torch.Tensor, x_feat: torch.Tensor) -> torch.Tensor:
        """(N*K, 1, h, w) target logits of features: the xcorr response or the box head's
        classification map."""
        out = self.head(z_feat, x_feat)
        return out.cls if isinstance(out, BoxOutput) else out


def feature_channels(backbone: nn.Module) -> int:
    """Channels of a backbone's features (its ``out_channels``, else measured on a 127 crop)."""
    channels = getattr(backbone, "out_channels", None)
    if isinstance(channels, int):
        return channels
    with torch.no_grad():
        was = backbone.training
        out = backbone.eval()(torch.zeros(1, 3, 127, 127))
        backbone.train(was)
    return int(out.shape[1])


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


def head_of(state: dict[str, torch.Tensor]) -> str:
    """The head a weights state holds: ``xcorr-box``, ``box`` or ``xcorr``."""
    if XCORR_BOX_HEAD_KEY in state:
        return "xcorr-box"
    return "box" if BOX_HEAD_KEY in state else "xcorr"


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
    for m in model.modules():       # heads with output layers of their own initialisation
        if hasattr(m, "init_outputs"):
            m.init_outputs()
