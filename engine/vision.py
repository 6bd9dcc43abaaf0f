"""Screenshots into Qwen3-VL's vision features, on the model's device.

Preprocessing (resize into the pixel budget, normalise, cut into patches) runs on the GPU
from the raw pixels, in the layout of Qwen's image processor. The encoder runs as a CUDA
graph per image grid: the grid follows the screen's size, so a run captures it once. Its
index tensors, which transformers derives from the grid through host reads, are computed
beforehand; without a GPU, with 8-bit layers, or if capture fails, the encoder runs eagerly.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from loguru import logger
from PIL import Image
from torch.nn.attention import SDPBackend, sdpa_kernel

from engine.graphs import capture
from engine.qwen3vl import ImageSettings, VisionModel
from perception.screen import fit_to_budget

ATTENTION = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
"""For prompts: not cuDNN's attention, which plans anew for every sequence length."""
VISION_ATTENTION = [SDPBackend.CUDNN_ATTENTION, *ATTENTION]
"""For the encoder, whose sequence length is fixed by the screen's size: cuDNN's attention plans
once per grid and then beats flash attention (the encoder at 1920x1080 in 38 ms instead of 44)."""

Features = tuple[torch.Tensor, list[torch.Tensor]]
"""An image's features for the language model, and its deepstack features."""


class VisionEncoder:
    """One image at a time through the model's vision tower."""

    def __init__(self, visual: VisionModel, settings: ImageSettings, device: torch.device) -> None:
        self.visual, self.settings, self.device = visual, settings, device
        self.merge = visual.spatial_merge_size
        self.graphs = device.type == "cuda"
        self._graphs: dict[tuple[int, int], tuple[torch.cuda.CUDAGraph, Features, torch.Tensor]] = {}

    def grid(self, image: Image.Image, max_pixels: int, min_pixels: int) -> tuple[int, int]:
        """(height, width) in patches after the resize into the pixel budget (the screen's own rule)."""
        width, height = fit_to_budget(image.size, max_pixels, min_pixels)
        patch = self.settings.patch_size
        return height // patch, width // patch

    def patches(self, image: Image.Image, grid: tuple[int, int]) -> torch.Tensor:
        """Pixel patches in the layout of Qwen's image processor, made on the device."""
        patch, temporal = self.settings.patch_size, self.settings.temporal_patch_size
        pixels = torch.from_numpy(np.array(image.convert("RGB"))).to(self.device, non_blocking=True)
        x = pixels.permute(2, 0, 1)[None].float()
        height, width = grid[0] * patch, grid[1] * patch
        if (x.shape[2], x.shape[3]) != (height, width):
            x = F.interpolate(x, size=(height, width), mode="bicubic", antialias=True, align_corners=False)
            x = x.clamp(0, 255).round()
        mean = torch.tensor(self.settings.image_mean, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(self.settings.image_std, device=self.device).view(1, 3, 1, 1)
        x = (x * self.settings.rescale_factor - mean) / std
        m = self.merge
        x = x[0].reshape(3, grid[0] // m, m, patch, grid[1] // m, m, patch).permute(1, 4, 2, 5, 0, 3, 6)
        x = x[:, :, :, :, :, None].expand(*x.shape[:5], temporal, patch, patch)
        return x.reshape(grid[0] * grid[1], 3 * temporal * patch * patch)

    def encode(self, image: Image.Image, grid: tuple[int, int]) -> Features:
        """The image's features (tensors of its own, kept by the caller)."""
        patches = self.patches(image, grid).to(self.visual.dtype)
        if not self.graphs:
            return self._run(patches, grid)
        if grid not in self._graphs:
            buffer = patches.clone()
            self.visual.grid_constants(grid)  # (host work, before the capture)
            try:
                graph, out = capture(lambda: self._run(buffer, grid))
            except RuntimeError as error:
                logger.warning("encoding images without CUDA graphs: {}", error)
                self.graphs = False
                return self._run(patches, grid)
            self._graphs[grid] = (graph, out, buffer)  # (the graph reads the buffer)
        graph, (embed, deepstack), buffer = self._graphs[grid]
        buffer.copy_(patches)
        graph.replay()
        return embed.clone(), [feature.clone() for feature in deepstack]  # (the next replay rewrites them)

    def _run(self, patches: torch.Tensor, grid: tuple[int, int]) -> Features:
        with sdpa_kernel(VISION_ATTENTION, set_priority=True):
            return self.visual(patches, grid)
