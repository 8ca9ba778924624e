"""CUDA graphs for the backbone: each input shape is captured once and then replayed.

A tracking step launches some hundred small kernels; at 1 target the GPU finishes each before
Python has queued the next, so the launches, not the arithmetic, set the frame rate. A CUDA
graph records the launches of one forward pass on fixed buffers and replays them with a single
call. Shapes are fixed per use (exemplars, N targets x S scales, wide re-detection crops): one
graph for each shape seen, captured on its first use. Opt-in (``cuda_graphs=True``,
``--cuda-graphs``) until measured on a GPU.
"""
from __future__ import annotations

import torch
from torch import nn


class GraphedBackbone(nn.Module):
    """``module`` (an inference-only backbone on a CUDA device) replayed from CUDA graphs."""

    def __init__(self, module: nn.Module, warmup: int = 2) -> None:
        super().__init__()
        device = next(module.parameters()).device
        if device.type != "cuda" or not torch.cuda.is_available():
            raise ValueError(f"CUDA graphs need the network on a CUDA device, not {device}; "
                             "drop --cuda-graphs / cuda_graphs=True")
        self.module = module
        self.warmup = warmup
        self._graphs: dict[tuple, tuple[torch.Tensor, torch.Tensor, torch.cuda.CUDAGraph]] = {}

    @property
    def captured(self) -> int:
        """How many input shapes have a graph."""
        return len(self._graphs)

    def _capture(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.cuda.CUDAGraph]:
        static_in = x.clone()                   # keeps the memory format (channels-last)
        side = torch.cuda.Stream(device=x.device)
        side.wait_stream(torch.cuda.current_stream(x.device))
        with torch.cuda.stream(side):           # warm-up off the capture (cuDNN picks kernels)
            for _ in range(self.warmup):
                self.module(static_in)
        torch.cuda.current_stream(x.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = self.module(static_in)
        return static_in, static_out, graph

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Same as ``module(x)``; the result is a fresh tensor (the graph's own output buffer is
        rewritten by the next replay)."""
        key = (tuple(x.shape), tuple(x.stride()), x.dtype, x.device)
        entry = self._graphs.get(key)
        if entry is None:
            entry = self._graphs[key] = self._capture(x)
        static_in, static_out, graph = entry
        static_in.copy_(x)
        graph.replay()
        return static_out.clone()
