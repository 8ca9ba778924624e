"""Frame upload to an accelerator through reusable page-locked host buffers.

A copy from ordinary (pageable) host memory to a GPU blocks the host until it is done; from
page-locked ("pinned") memory it is queued on the stream and returns at once, so the frame's
upload overlaps whatever the host does next. The buffer must not be rewritten before its copy
has run: each buffer records an event after its copy, and is reused (round robin over
``slots`` buffers) only once that event has completed. On the CPU there is nothing to upload;
on devices without pinned memory the same rotation runs with ordinary buffers and blocking
copies, so the bookkeeping is exercised everywhere.
"""
from __future__ import annotations

import numpy as np
import torch


def frame_to_tensor(frame: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """(H, W, 3) uint8 BGR -> (1, 3, H, W) float32 on ``device`` (one upload per frame)."""
    t = torch.from_numpy(np.ascontiguousarray(frame)).to(device, non_blocking=True)
    return t.permute(2, 0, 1).unsqueeze(0).float()


class FrameUploader:
    """``upload(frame)``: (H, W, 3) uint8 BGR -> (1, 3, H, W) float32 on ``device``."""

    def __init__(self, device: torch.device | str, slots: int = 2, pin: bool | None = None) -> None:
        if slots < 1:
            raise ValueError(f"slots must be >= 1, got {slots}")
        self.device = torch.device(device)
        self.pin = (self.device.type == "cuda") if pin is None else pin
        self.slots = slots
        self._buffers: list[torch.Tensor | None] = [None] * slots
        self._events: list[object | None] = [None] * slots     # one reusable event per slot
        self._pending = [False] * slots                         # its copy may still be running
        self._next = 0
        self.uploads = 0      # frames uploaded (for tests and benchmarks)

    def _buffer(self, slot: int, shape: tuple[int, ...]) -> torch.Tensor:
        """The host buffer of ``slot`` for frames of ``shape``, once its last copy has run."""
        if self._pending[slot]:
            self._events[slot].synchronize()    # that slot's previous upload has finished
            self._pending[slot] = False
        buf = self._buffers[slot]
        if buf is None or tuple(buf.shape) != shape:
            buf = torch.empty(shape, dtype=torch.uint8, pin_memory=self.pin)
            self._buffers[slot] = buf
        return buf

    def upload(self, frame: np.ndarray) -> torch.Tensor:
        """Copy ``frame`` to the device (asynchronously from pinned memory on CUDA)."""
        if self.device.type == "cpu":
            return frame_to_tensor(frame)
        slot = self._next
        self._next = (slot + 1) % self.slots
        buf = self._buffer(slot, tuple(frame.shape))
        np.copyto(buf.numpy(), frame)
        dev = buf.to(self.device, non_blocking=self.pin)
        if self.pin and self.device.type == "cuda":
            if self._events[slot] is None:
                self._events[slot] = torch.cuda.Event()
            self._events[slot].record(torch.cuda.current_stream(self.device))
            self._pending[slot] = True
        self.uploads += 1
        return dev.permute(2, 0, 1)[None].float()
