"""Qwen3-VL in this process: bf16, FP8 and INT4 weights, CPU offload.

Loading takes a hub id (downloaded on first use, with a progress bar; ``HF_HUB_OFFLINE=1``
is respected) or a local folder. ``--quantize`` converts the language model's weights once,
as they are loaded (:mod:`engine.quant`): ``8bit`` to FP8 in 128x128 blocks, the layout of
Qwen's FP8 checkpoints, which load as they are; ``4bit`` to INT4 in groups of 64, the vision
blocks' weights too. The prompt is built the way Qwen's processor builds it, without its video
half: the model's own chat template renders the messages with one ``<|image_pad|>`` per image,
each image is cut into patches at our pixel budget, and each pad is widened to the image's
token count (one token per 32x32 pixels).

Two decoders: ``fast`` (the default; :mod:`engine.fast`: static KV cache, CUDA graphs, prefix
and vision reuse, on the model of :mod:`engine.qwen3vl`, read straight from the checkpoint)
and ``plain`` (transformers' ``generate`` through :mod:`engine.plain`: the reference the fast
one is checked against, and the decoder of a model split between the GPU and the CPU). Both
apply the Instruct card's presence penalty and the thinking budget, which closes a thought
that runs past its budget with a cut-off text ending in ``</think>`` so the model names an
action within the same reply. The budget shrinks when ``max_new_tokens`` would leave no room
after it for the action.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
from pathlib import Path
from typing import Any, Literal

import torch
from loguru import logger
from PIL import Image
from engine import qwen3vl, quant
from engine.batch import Batcher, Reply
from engine.fast import FastGenerator, StepStats, Thinking
from engine.tokenizer import ChatTokenizer
from agent.model import ModelReply, ModelRequest, ModelUnavailable, Sampling, TextSink
from agent.prompt import thought_cutoff

IMAGE_PAD = "<|image_pad|>"
END_THINK = "</think>"
MIN_PIXELS = 32 * 32 * 4
ACTION_TOKENS = 96
"""Room kept after a forced cut-off for the model to write its tool call."""
Quantize = Literal["4bit", "8bit"]
Decoder = Literal["fast", "plain"]


class LocalModel:
    """A Qwen3-VL checkpoint loaded once and asked many times."""

    name = "transformers"

    def __init__(
        self,
        source: str,
        *,
        quantize: Quantize | None = None,
        cpu_offload: bool = False,
        gpu_memory_gib: float | None = None,
        attn: str = "sdpa",
        max_pixels: int = 1280 * 800,
        decoder: Decoder = "fast",
        batch: int = 8,
    ) -> None:
        self.source, self.max_pixels, self.folder = source, max_pixels, weights_folder(source)
        fp8_checkpoint = checkpoint_quantisation(self.folder) == "fp8"
        fmt = check_quantisation(quantize, fp8_checkpoint, cpu_offload)
        load = load_options(quantize, cpu_offload, gpu_memory_gib, attn)  # (refusing what cannot be done here)
        fast = decoder == "fast" and not cpu_offload
        shown = {"decoder": "fast", "device": default_device(), "quantize": fmt} if fast else describe(load)
        logger.info("loading {} ({})", source, ", ".join(f"{k}={v}" for k, v in shown.items() if v is not None))
        try:
            self.tokenizer = ChatTokenizer(self.folder)
            self.config = qwen3vl.read_config(self.folder)
            self.stop_ids = qwen3vl.stop_ids(self.folder, self.config)
            self.model = self._load_fast(fmt) if fast else self._load_plain(load, fmt, fp8_checkpoint)
        except (OSError, ValueError, KeyError) as error:  # (CheckpointError and TokenizerError are ValueErrors)
            raise ModelUnavailable(f"cannot load a Qwen3-VL model from {self.folder}: {error}") from None
        if torch.cuda.is_available() and (fmt is not None or fp8_checkpoint):
            from engine import quant_kernels  # (Triton comes with CUDA builds of torch)

            quant_kernels.reserve(m.matrix for m in self.model.modules() if isinstance(m, quant.QuantisedLinear))
        self.end_think = self.tokenizer.token_id(END_THINK)
        self.cutoff_ids = self.tokenizer.encode(thought_cutoff())
        self.fast = None
        if fast:
            self.fast = FastGenerator(self.model, qwen3vl.ImageSettings(self.folder), self.stop_ids)
            self.batcher = Batcher(self.fast, batch)
        self.concurrency = batch if self.fast is not None else 1
        """Requests this model answers at once (the rest wait their turn)."""
        self.last_stats: StepStats | None = None

    def _load_fast(self, fmt: quant.Format | None) -> qwen3vl.Qwen3VL:
        """The fast decoder's model, converted to ``fmt`` as it is read."""
        model = qwen3vl.load(self.folder, default_device(), fmt)
        if converted := sum(isinstance(m, quant.QuantisedLinear) for m in model.modules()):
            logger.info("{} linear layers in {}", converted, fmt or "FP8 (as the checkpoint holds them)")
        return model

    def _load_plain(self, options: dict[str, Any], fmt: quant.Format | None, fp8_checkpoint: bool) -> Any:
        """transformers' model, for ``generate``."""
        from engine import plain

        return plain.load(self.folder, options, fmt, fp8_checkpoint, default_device())

    @property
    def device(self) -> torch.device:
        return self.model.device

    def render(self, request: ModelRequest) -> tuple[str, list[Image.Image]]:
        """The prompt text from the model's chat template (one pad per image), and the images."""
        messages, images = [], []
        for message in request.messages:
            parts = []
            for part in message.content:
                if isinstance(part, Image.Image):
                    images.append(part.convert("RGB"))
                    parts.append({"type": "image"})
                else:
                    parts.append({"type": "text", "text": part})
            messages.append({"role": message.role, "content": parts})
        prompt = self.tokenizer.render(messages)
        if prompt.count(IMAGE_PAD) != len(images):
            raise ModelUnavailable(f"the chat template of {self.source} did not place one image pad per image")
        return prompt, images

    def widen(self, prompt: str, tokens_per_image: list[int]) -> str:
        """The prompt with each image pad repeated once per image token."""
        pieces = prompt.split(IMAGE_PAD)
        return pieces[0] + "".join(IMAGE_PAD * n + piece for n, piece in zip(tokens_per_image, pieces[1:]))

    def encode(self, request: ModelRequest) -> tuple[dict[str, torch.Tensor], str]:
        """transformers inputs for a request (Qwen's image processor on the CPU), and the prompt text."""
        prompt, images = self.render(request)
        inputs: dict[str, torch.Tensor] = {}
        counts = []
        if images:
            vision = self.image_processor(
                images=images, size={"longest_edge": self.max_pixels, "shortest_edge": MIN_PIXELS}, return_tensors="pt",
            )
            merge = self.image_processor.merge_size
            counts = [int(grid.prod()) // merge**2 for grid in vision["image_grid_thw"]]
            inputs.update(vision)
        ids = torch.tensor([self.tokenizer.encode(self.widen(prompt, counts))])
        inputs.update(input_ids=ids, attention_mask=torch.ones_like(ids))
        if images:  # which tokens are image tokens: M-RoPE gives those 2-D positions
            inputs["mm_token_type_ids"] = (inputs["input_ids"] == self.config.image_token_id).int()
        return {k: v.to(self.device) for k, v in inputs.items()}, prompt

    @functools.cached_property
    def image_processor(self) -> Any:
        """Qwen's image processor, for :meth:`encode` (the fast decoder makes its patches on the device)."""
        from engine import plain

        return plain.image_processor(self.folder)

    def thinking_budget(self, prompt: str, sampling: Sampling) -> int | None:
        """Tokens of thought allowed, if the template opened a thought and a budget is set."""
        if sampling.thinking_budget is None or not prompt.rstrip().endswith("<think>"):
            return None
        room = sampling.max_new_tokens - len(self.cutoff_ids) - ACTION_TOKENS
        return max(0, min(sampling.thinking_budget, room))

    def complete(self, request: ModelRequest, on_text: TextSink | None = None) -> ModelReply:
        try:
            with torch.inference_mode():
                if self.fast is not None:
                    return self._complete_fast(request, on_text)
                return self._complete_plain(request, on_text)
        except torch.OutOfMemoryError as error:
            raise ModelUnavailable(f"out of GPU memory while generating: {error}; try --quantize 4bit, "
                                   "--cpu-offload or a smaller --max-pixels") from None

    def _complete_fast(self, request: ModelRequest, on_text: TextSink | None, timed: bool = False) -> ModelReply:
        assert self.fast is not None
        stats = StepStats(timed=timed)
        prompt, images = self.render(request)
        grids = [self.fast.encoder.grid(image, self.max_pixels, MIN_PIXELS) for image in images]
        text = self.widen(prompt, [h * w // self.fast.merge**2 for h, w in grids])
        ids = self.tokenizer.encode(text)
        stats.mark("prompt")
        budget = self.thinking_budget(prompt, request.sampling)
        thinking = None if budget is None else Thinking(budget, self.end_think, tuple(self.cutoff_ids))
        stream = TextStream(self.tokenizer, on_text, self.stop_ids) if on_text else None
        reply = self.batcher.generate(Reply(ids, images, grids, request.sampling, thinking,
                                            stream.add if stream else None, stats))
        if stream:
            stream.end()
        stats.mark("decode")
        self.last_stats = stats
        return self.reply(reply.tokens, reply.stopped, len(ids), request.sampling)

    def _complete_plain(self, request: ModelRequest, on_text: TextSink | None) -> ModelReply:
        from engine import plain

        stats = StepStats()
        inputs, prompt = self.encode(request)
        budget = self.thinking_budget(prompt, request.sampling)
        thinking = None if budget is None else (budget, self.end_think, self.cutoff_ids)
        streamer = TextStream(self.tokenizer, on_text, self.stop_ids, stats)
        new = plain.generate(self.model, inputs, request.sampling, self.stop_ids, thinking, streamer)
        stats.mark("decode")
        stats.decode_steps = max(0, streamer.puts - 1)
        self.last_stats = stats
        stopped = bool(new) and new[-1] in self.stop_ids
        while new and new[-1] in self.stop_ids:
            new.pop()
        return self.reply(new, stopped, inputs["input_ids"].shape[1], request.sampling)

    def reply(self, tokens: list[int], stopped: bool, prompt_length: int, sampling: Sampling) -> ModelReply:
        return ModelReply(
            text=self.tokenizer.decode(tokens),
            finish_reason="stop" if stopped or len(tokens) < sampling.max_new_tokens else "length",
            prompt_tokens=prompt_length,
            completion_tokens=len(tokens),
        )


class TextStream:
    """Reply tokens in, text out to a sink, from either decoder: the fast one calls :meth:`add`,
    ``generate`` calls ``put`` (the prompt first, which is skipped) and ``end``. End-of-turn tokens
    are left out, and a character still being spelled out is held back until it is whole. Only
    the tokens since the last whole text are decoded again, so a long reply costs no more a token
    than a short one. With ``stats``, the first token's arrival from ``generate`` is marked
    ("first token")."""

    def __init__(self, tokenizer: ChatTokenizer, sink: TextSink | None, stop_ids: list[int],
                 stats: StepStats | None = None) -> None:
        self.tokenizer, self.sink, self.stop_ids, self.stats = tokenizer, sink, set(stop_ids), stats
        self.pending: list[int] = []  # tokens since the last text that ended on a whole character
        self.sent = 0  # of their text
        self.prompt_seen = False
        self.puts = 0  # reply tokens from generate

    def add(self, tokens: list[int], final: bool = False) -> None:
        if self.sink is None:
            return
        self.pending += [token for token in tokens if token not in self.stop_ids]
        text = self.tokenizer.decode(self.pending)
        whole = final or not text.endswith("\ufffd")
        ready = len(text) if whole else len(text) - 1
        if ready > self.sent:
            self.sink(text[self.sent:ready])
            self.sent = ready
        if whole:
            self.pending, self.sent = [], 0

    def put(self, value: torch.Tensor) -> None:
        if self.prompt_seen:
            self.puts += 1
            if self.puts == 1 and self.stats is not None:
                self.stats.mark("first token")
            self.add(value.flatten().tolist())
        self.prompt_seen = True

    def end(self) -> None:
        self.add([], final=True)


def weights_folder(source: str) -> Path:
    """A local folder as is; a hub id downloaded (or found in the cache when offline)."""
    if Path(source).expanduser().is_dir():
        return Path(source).expanduser()
    if Path(source).suffix or source.startswith((".", "/", "~")) or source.count("/") != 1:
        raise ModelUnavailable(f"{source} is neither a model folder nor a hub id like Qwen/Qwen3-VL-4B-Instruct")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")
    try:
        return Path(snapshot_download(source, local_files_only=True))
    except LocalEntryNotFoundError:
        if offline:
            raise ModelUnavailable(f"{source} is not in the local model cache and HF_HUB_OFFLINE is set: download it "
                                   "first, or pass --model with the path of a model folder") from None
    logger.info("downloading {} (first use; about 9 GB for a 4B model)", source)
    try:
        return Path(snapshot_download(source))
    except RepositoryNotFoundError:
        raise ModelUnavailable(f"there is no model {source} on the hub (or it needs a token: set HF_TOKEN)") from None
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError) as error:
        raise ModelUnavailable(f"cannot download {source}: {error}") from None


def checkpoint_quantisation(folder: Path) -> str | None:
    """The ``quant_method`` a checkpoint's config.json names, if any."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # (from_pretrained says what is wrong)
    method = (config.get("quantization_config") or {}).get("quant_method")
    return str(method) if method else None


def fp8_capable() -> bool:
    """A CUDA GPU with FP8 conversions (compute capability 8.9 and up: Ada, Hopper and later)."""
    return torch.cuda.is_available() and torch.cuda.get_device_capability() >= (8, 9)


def check_quantisation(quantize: Quantize | None, fp8_checkpoint: bool, cpu_offload: bool) -> quant.Format | None:
    """The format to convert the weights to at load (None: none), refusing what cannot be done.

    FP8 weights need FP8 conversions on a GPU; on a CPU they are dequantised per product (slow:
    for tests). INT4 runs on any CUDA GPU."""
    cuda = torch.cuda.is_available()
    if fp8_checkpoint:
        if quantize == "4bit":
            raise ModelUnavailable("this checkpoint holds FP8 weights already: leave --quantize out (or use a bf16 "
                                   "checkpoint with --quantize 4bit)")
        if cuda and not fp8_capable():
            raise ModelUnavailable("this checkpoint holds FP8 weights, which need a GPU with FP8 (compute capability "
                                   f"8.9 or newer: Ada, Hopper); this one has {capability()}: use the bf16 checkpoint, "
                                   "with --quantize 4bit to save memory")
        if cpu_offload:
            raise ModelUnavailable("--cpu-offload does not work with FP8 checkpoints: use the bf16 checkpoint")
        return None
    if quantize is None:
        return None
    if cpu_offload:
        raise ModelUnavailable(f"--quantize {quantize} and --cpu-offload do not go together: the quantised model "
                               "needs 3.5 GiB (4bit) or 5.5 GiB (8bit); offload the bf16 model instead")
    if quantize == "8bit":
        if cuda and not fp8_capable():
            raise ModelUnavailable("--quantize 8bit keeps FP8 weights, which need a GPU with FP8 (compute capability "
                                   f"8.9 or newer: Ada, Hopper); this one has {capability()}: use --quantize 4bit")
        return "fp8"
    return "int4"


def capability() -> str:
    major, minor = torch.cuda.get_device_capability()
    return f"compute capability {major}.{minor}"


def load_options(quantize: Quantize | None, cpu_offload: bool, gpu_memory_gib: float | None, attn: str) -> dict[str, Any]:
    """``from_pretrained`` keyword arguments, refusing combinations this machine cannot do."""
    cuda = torch.cuda.is_available()
    options: dict[str, Any] = {"dtype": "auto", "attn_implementation": attn}
    if attn == "flash_attention_2":
        if importlib.util.find_spec("flash_attn") is None:
            raise ModelUnavailable("--attn flash_attention_2 needs the flash-attn package (pip install flash-attn "
                                   "--no-build-isolation); --attn sdpa works without it")
        if not cuda:
            raise ModelUnavailable("--attn flash_attention_2 needs a CUDA GPU; use --attn sdpa")
    if quantize is not None:
        # converted after loading: the bf16 weights stay on the CPU until each is converted on the GPU
        options["device_map"] = {"": "cpu"}
        return options
    if cpu_offload:
        if not cuda:
            raise ModelUnavailable("--cpu-offload splits the model between a GPU and the CPU, and there is no CUDA "
                                   "GPU here: leave it out to run on the CPU")
        options["device_map"] = "auto"
        if gpu_memory_gib is not None:
            options["max_memory"] = {0: f"{gpu_memory_gib}GiB", "cpu": "1024GiB"}
    elif cuda:
        options["device_map"] = {"": 0}
    elif gpu_memory_gib is not None:
        raise ModelUnavailable("--gpu-memory caps GPU memory, and there is no CUDA GPU here")
    return options


def default_device() -> torch.device:
    return torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")


def describe(options: dict[str, Any]) -> dict[str, Any]:
    shown = dict(options)
    shown.setdefault("device_map", "cpu")
    return shown
