"""transformers' Qwen3-VL and its ``generate``: the reference the fast decoder is checked against,
and the decoder of a model split between the GPU and the CPU (``--cpu-offload``).

Imported only where it is used: transformers' modeling code takes seconds to import. Loading
goes through ``from_pretrained``; ``--quantize`` converts the weights once loaded, as the fast
path does (:mod:`engine.quant`), and an FP8 checkpoint's layers are taken over from
transformers' FP8 layers. ``generate`` gets two logits processors: the Instruct card's presence
penalty, and the thinking budget, which closes a thought that runs past its budget with a
cut-off text ending in ``</think>`` so the model names an action within the same reply.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from loguru import logger
from transformers import AutoImageProcessor, LogitsProcessor, LogitsProcessorList, Qwen3VLForConditionalGeneration

from engine import quant
from agent.model import Sampling


def load(folder: Path, options: dict[str, Any], fmt: quant.Format | None, fp8_checkpoint: bool,
         device: torch.device) -> torch.nn.Module:
    """The checkpoint through ``from_pretrained`` with ``options``, then converted to ``fmt`` on
    ``device`` (or with an FP8 checkpoint's layers taken over). Raises OSError, ValueError or
    KeyError as transformers does for a folder it cannot load."""
    model = Qwen3VLForConditionalGeneration.from_pretrained(folder, **options).eval()
    if fp8_checkpoint and torch.cuda.is_available():
        logger.info("FP8 checkpoint: {} layers keep their FP8 weights", quant.adopt_fp8(model))
    elif fmt is not None:
        count = quant.quantise_model(model, fmt, device)
        model.to(device)
        logger.info("{} linear layers converted to {} at load", count, fmt)
    return model


def image_processor(folder: Path) -> Any:
    """Qwen's image processor (on the CPU), as ``generate``'s inputs need it."""
    return AutoImageProcessor.from_pretrained(folder)


def generate(model: torch.nn.Module, inputs: dict[str, torch.Tensor], sampling: Sampling, stop_ids: list[int],
             thinking: tuple[int, int, list[int]] | None, streamer: Any) -> list[int]:
    """The reply's tokens (end-of-turn tokens included) from ``generate``; ``thinking``: the
    budget, the ``</think>`` token and the cut-off text's tokens."""
    prompt_length = inputs["input_ids"].shape[1]
    processors = LogitsProcessorList()
    if sampling.presence_penalty:
        processors.append(PresencePenalty(prompt_length, sampling.presence_penalty))
    if thinking is not None:
        processors.append(ThinkingBudget(prompt_length, *thinking))
    options: dict[str, Any] = {"do_sample": False}
    if sampling.temperature > 0:
        options = {"do_sample": True, "temperature": sampling.temperature, "top_p": sampling.top_p,
                   "top_k": sampling.top_k}
    output = model.generate(
        **inputs, max_new_tokens=sampling.max_new_tokens, logits_processor=processors,
        eos_token_id=stop_ids, pad_token_id=stop_ids[0], streamer=streamer, **options,
    )
    return output[0, prompt_length:].tolist()


class PresencePenalty(LogitsProcessor):
    """Subtract a fixed penalty from every token the reply has already used (OpenAI semantics)."""

    def __init__(self, prompt_length: int, penalty: float) -> None:
        self.prompt_length, self.penalty = prompt_length, penalty

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        used = input_ids[:, self.prompt_length:]
        if used.shape[1]:
            penalty = torch.zeros_like(scores).scatter_(1, used, self.penalty)
            scores = scores - penalty
        return scores


class ThinkingBudget(LogitsProcessor):
    """After ``budget`` reply tokens without ``</think>``, force the cut-off text, then let go."""

    def __init__(self, prompt_length: int, budget: int, end_think: int, cutoff: list[int]) -> None:
        self.prompt_length, self.budget, self.end_think, self.cutoff = prompt_length, budget, end_think, cutoff

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        generated = input_ids.shape[1] - self.prompt_length
        forced = generated - self.budget
        if 0 <= forced < len(self.cutoff):
            thought = input_ids[:, self.prompt_length:self.prompt_length + self.budget]
            closed = (thought == self.end_think).any(dim=1)
            target = torch.full_like(scores, float("-inf"))
            target[:, self.cutoff[forced]] = 0.0
            scores = torch.where(closed[:, None], scores, target)
        return scores
