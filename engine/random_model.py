"""A Qwen3-VL with random weights, built offline: for tests (tiny) and speed benchmarks (4B shape).

Everything a real model folder has is made here, with no download: the network (random
weights of a chosen shape), a byte-level BPE tokenizer with Qwen's special tokens, the image
processor with Qwen3-VL's settings (patch 16, merge 2), a chat template (ours, written to
render the same layout as Qwen's, with the ``<think>`` opener for the Thinking variant) and a
generation config. It is written with ``save_pretrained`` so that loading it goes through the
exact code path users take with downloaded weights. The replies are gibberish, which is what
tests of the agent's error handling want; speed does not depend on weight values.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from agent.model import Mode
from agent.prompt import system_prompt

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
           "<|image_pad|>", "<|video_pad|>"]
"""Control tokens: never shown in decoded text."""
MARKUP = ["<tool_call>", "</tool_call>", "<think>", "</think>"]
"""Single tokens that stay in decoded text, as in Qwen's tokenizer."""


@dataclass(frozen=True)
class Shape:
    """Sizes of the language model and the vision tower."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    mlp: int
    mrope_section: tuple[int, int, int]
    vision_hidden: int
    vision_layers: int
    vision_heads: int
    vision_mlp: int
    deepstack: tuple[int, ...]
    vocab: int | None = None  # None: just the tokenizer's vocabulary


TINY = Shape(hidden=64, layers=2, heads=4, kv_heads=2, head_dim=16, mlp=128, mrope_section=(4, 2, 2),
             vision_hidden=32, vision_layers=2, vision_heads=2, vision_mlp=64, deepstack=(0, 1))
QWEN3_VL_4B = Shape(hidden=2560, layers=36, heads=32, kv_heads=8, head_dim=128, mlp=9728,
                    mrope_section=(24, 20, 20), vision_hidden=1024, vision_layers=24, vision_heads=16,
                    vision_mlp=4096, deepstack=(5, 11, 17), vocab=151936)
SMALL = Shape(hidden=128, layers=2, heads=4, kv_heads=2, head_dim=64, mlp=256, mrope_section=(16, 8, 8),
              vision_hidden=64, vision_layers=2, vision_heads=2, vision_mlp=128, deepstack=(0, 1))
"""The smallest model whose language matrices are whole 128x128 blocks (FP8 checkpoints) and whose
vision blocks' matrices whole 64-column groups (INT4)."""
SHAPES = {"tiny": TINY, "small": SMALL, "4b": QWEN3_VL_4B}

_CORPUS = [
    "You are a computer-use agent. Click the Name field, type the text, press Enter, then Save.",
    '<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [337, 146]}}',
    '{"action": "type", "text": "Ada Lovelace"} {"action": "terminate", "status": "success"} 0123456789',
    "The form is empty; I will fill in the name first, then the e-mail address and the city.",
]


def build_tokenizer() -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=2048, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    # trained on the real prompt too, so that it takes about as many tokens as with Qwen's tokenizer
    bpe.train_from_iterator([*_CORPUS, system_prompt()], trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.add_tokens(MARKUP)
    return tokenizer


def chat_template(mode: Mode) -> str:
    template = files("engine").joinpath("random_model_template.jinja").read_text(encoding="utf-8")
    return template.replace("{{THINK}}", "{{ '<think>\\n' }}" if mode == "thinking" else "")


def model_config(shape: Shape, tokenizer: Any, dtype: str = "bfloat16", init_std: float = 0.02) -> Any:
    """The Qwen3-VL config of ``shape``, its special tokens those of ``tokenizer``."""
    from transformers import Qwen3VLConfig

    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL}
    return Qwen3VLConfig(
        text_config={
            "vocab_size": shape.vocab or len(tokenizer), "hidden_size": shape.hidden,
            "intermediate_size": shape.mlp, "num_hidden_layers": shape.layers,
            "num_attention_heads": shape.heads, "num_key_value_heads": shape.kv_heads, "head_dim": shape.head_dim,
            "rope_parameters": {"rope_type": "default", "rope_theta": 5_000_000.0,
                                "mrope_section": list(shape.mrope_section), "mrope_interleaved": True},
            "max_position_embeddings": 262144, "tie_word_embeddings": True, "dtype": dtype,
            "initializer_range": init_std,
        },
        vision_config={
            "depth": shape.vision_layers, "hidden_size": shape.vision_hidden, "intermediate_size": shape.vision_mlp,
            "num_heads": shape.vision_heads, "out_hidden_size": shape.hidden,
            "deepstack_visual_indexes": list(shape.deepstack), "patch_size": 16, "spatial_merge_size": 2,
            "temporal_patch_size": 2, "num_position_embeddings": 2304, "initializer_range": init_std,
        },
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True, dtype=dtype,
    )


def build_random_model(folder: Path | str, shape: Shape = TINY, mode: Mode = "thinking", seed: int = 0,
                       dtype: str = "float32", device: str = "cpu", init_std: float = 0.02) -> Path:
    """Write a loadable random-weight Qwen3-VL folder and return its path.

    ``device`` is where the weights are initialised: "cuda" makes the 4B shape in seconds.
    A larger ``init_std`` gives sharper logits, so that greedy decoding does not just repeat
    one token (what tests comparing two decoders want).
    """
    import torch
    from transformers import Qwen3VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    folder = Path(folder)
    tokenizer = build_tokenizer()
    config = model_config(shape, tokenizer, dtype, init_std)
    torch.manual_seed(seed)
    torch.set_default_dtype(getattr(torch, dtype))
    try:
        with torch.device(device):
            model = Qwen3VLForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(torch.float32)
    end, pad = tokenizer.convert_tokens_to_ids(["<|im_end|>", "<|endoftext|>"])
    model.generation_config.eos_token_id = [end, pad]
    model.generation_config.pad_token_id = pad
    model.save_pretrained(folder)
    tokenizer.chat_template = chat_template(mode)
    tokenizer.save_pretrained(folder)
    Qwen2VLImageProcessorPil(
        patch_size=16, merge_size=2, temporal_patch_size=2, image_mean=[0.5] * 3, image_std=[0.5] * 3,
        size={"shortest_edge": 64 * 32 * 32, "longest_edge": 16384 * 32 * 32},
    ).save_pretrained(folder)
    return folder


FP8_SKIPPED = ["lm_head", "model.visual"]
"""Modules an FP8 checkpoint keeps in bf16 (``modules_to_not_convert``)."""


def write_fp8_checkpoint(source: Path | str, target: Path | str) -> Path:
    """A copy of the model folder ``source`` in Qwen's FP8 layout: the decoder layers' linear
    weights as e4m3 values (``weight``) with one float32 scale per 128x128 block
    (``weight_scale_inv``), and ``quantization_config`` in config.json saying so."""
    import json
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    from engine.quant import LANGUAGE_LINEARS, quantise

    source, target = Path(source), Path(target)
    shutil.copytree(source, target, dirs_exist_ok=True)
    suffixes = tuple(f"{name}.weight" for name in LANGUAGE_LINEARS)
    for path in sorted(target.glob("*.safetensors")):
        tensors = load_file(path)
        for key in [k for k in tensors if k.startswith("model.language_model.layers.") and k.endswith(suffixes)]:
            matrix = quantise(tensors[key].to("cuda" if torch.cuda.is_available() else "cpu"), "fp8")
            tensors[key] = matrix.values.cpu().contiguous()
            tensors[key.removesuffix("weight") + "weight_scale_inv"] = matrix.scales.cpu().contiguous()
        save_file(tensors, path, metadata={"format": "pt"})
    index = target / "model.safetensors.index.json"
    if index.exists():  # (a sharded checkpoint: the scales live in their weights' shard)
        mapping = json.loads(index.read_text())
        weights = mapping["weight_map"]
        for key in [k for k in weights if k.endswith(suffixes) and k.startswith("model.language_model.layers.")]:
            weights[key.removesuffix("weight") + "weight_scale_inv"] = weights[key]
        index.write_text(json.dumps(mapping, indent=2))
    config_path = target / "config.json"
    config = json.loads(config_path.read_text())
    config["quantization_config"] = {"quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic",
                                     "weight_block_size": [128, 128], "modules_to_not_convert": FP8_SKIPPED}
    config_path.write_text(json.dumps(config, indent=2))
    return target
