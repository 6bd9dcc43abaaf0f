"""The fast decoder against transformers' generate, on a tiny random Qwen3-VL (CPU, float32).

Same greedy tokens, the same thinking-budget cut-off and presence penalty, and the reuse of
the prompt prefix and of vision features between steps. CUDA graphs themselves are checked
on the GPU by bench/decode.py, with the same comparison.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from engine.fast import prefix_attention
from engine.local import LocalModel
from engine.random_model import build_random_model
from agent.model import Message, ModelRequest, Sampling
from agent.prompt import system_prompt, thought_cutoff


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    # sharp random weights: greedy decoding wanders instead of repeating one token
    return build_random_model(tmp_path_factory.mktemp("sharp") / "model", mode="thinking", init_std=0.5)


@pytest.fixture(scope="module")
def fast(folder) -> LocalModel:
    return LocalModel(str(folder), max_pixels=640 * 416)


@pytest.fixture(scope="module")
def plain(folder) -> LocalModel:
    return LocalModel(str(folder), max_pixels=640 * 416, decoder="plain")


def screen(seed: int, size: tuple[int, int] = (640, 416)) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def request(image: Image.Image, history: str = "", **sampling: object) -> ModelRequest:
    options = {"temperature": 0.0, "presence_penalty": 0.0, "max_new_tokens": 48, **sampling}
    return ModelRequest(
        (Message("system", (system_prompt(),)), Message("user", (image, f"Fill in the form.{history}"))),
        sampling=Sampling(**options),
    )


@pytest.mark.parametrize("sampling", [
    {},
    {"presence_penalty": 1.5},
    {"thinking_budget": 10, "max_new_tokens": 200},
])
def test_same_greedy_tokens_as_generate(fast, plain, sampling):
    reference = plain.complete(request(screen(1), **sampling))
    reply = fast.complete(request(screen(1), **sampling))
    assert reply.text == reference.text
    assert (reply.completion_tokens, reply.finish_reason) == (reference.completion_tokens, reference.finish_reason)
    assert len(set(reply.text)) > 5  # a wandering reply, not one token repeated
    if "thinking_budget" in sampling:
        assert thought_cutoff().strip() in reply.text


def test_later_steps_reuse_the_prefix_and_unchanged_screens(fast, plain):
    first = fast.complete(request(screen(2)))
    assert fast.last_stats.images_encoded == 1
    again = fast.complete(request(screen(2), history=" Earlier: clicked Name."))
    stats = fast.last_stats
    assert stats.images_reused == 1 and stats.images_encoded == 0
    assert 0 < stats.reused_prefix < stats.prompt_tokens
    assert again.text == plain.complete(request(screen(2), history=" Earlier: clicked Name.")).text
    fast.complete(request(screen(3)))
    assert fast.last_stats.images_encoded == 1 and fast.last_stats.reused_prefix == stats.reused_prefix
    assert first.text == fast.complete(request(screen(2))).text  # nothing stale carried over


def test_streamed_text_is_the_reply(fast):
    pieces: list[str] = []
    reply = fast.complete(request(screen(4), max_new_tokens=40), pieces.append)
    assert "".join(pieces) == reply.text


def test_stops_at_an_end_token(fast):
    full = fast.complete(request(screen(5)))
    tokens = fast.fast.out[0, :full.completion_tokens].tolist()
    stop = tokens[6]
    fast.fast.stop_ids.append(stop)
    try:
        reply = fast.complete(request(screen(5)))
    finally:
        fast.fast.stop_ids.remove(stop)
    assert reply.finish_reason == "stop"
    assert reply.completion_tokens == tokens.index(stop)
    assert reply.text == fast.tokenizer.decode(tokens[:tokens.index(stop)])


def test_top_k_one_samples_the_greedy_token(fast):
    greedy = fast.complete(request(screen(6))).text
    assert fast.complete(request(screen(6), temperature=0.7, top_k=1)).text == greedy
    torch.manual_seed(0)
    sampled = fast.complete(request(screen(6), temperature=1.0, top_k=50, top_p=1.0))
    assert sampled.completion_tokens == 48 and sampled.text != greedy


@pytest.mark.parametrize("size", [(640, 416), (1280, 832), (1000, 700)])
def test_patches_made_on_the_device_match_the_image_processor(fast, size):
    image = Image.radial_gradient("L").resize(size).convert("RGB")
    grid = fast.fast.encoder.grid(image, fast.max_pixels, 32 * 32 * 4)
    reference = fast.image_processor(images=[image], size={"longest_edge": fast.max_pixels, "shortest_edge": 32 * 32 * 4},
                            return_tensors="pt")
    assert tuple(reference["image_grid_thw"][0].tolist()) == (1, *grid)
    difference = (fast.fast.encoder.patches(image, grid).cpu() - reference["pixel_values"]).abs()
    if size == (640, 416):  # no resize: the same numbers
        assert difference.max() < 1e-5
    else:  # torch's bicubic against PIL's: a level or two of 255 at edges
        assert difference.mean() < 0.01


def test_generate_streams_the_reply_too(plain):
    pieces: list[str] = []
    reply = plain.complete(request(screen(4), max_new_tokens=40), pieces.append)
    assert "".join(pieces) == reply.text


def test_a_prompt_without_images_asked_again_reuses_all_but_its_last_token(fast, plain):
    text_only = ModelRequest((Message("system", (system_prompt(),)), Message("user", ("Fill in the form.",))),
                             sampling=Sampling(temperature=0.0, presence_penalty=0.0, max_new_tokens=24))
    first = fast.complete(text_only)
    again = fast.complete(text_only)
    assert fast.last_stats.reused_prefix == fast.last_stats.prompt_tokens - 1
    assert first.text == again.text == plain.complete(text_only).text


def test_a_long_prefill_runs_its_mlp_in_parts_with_the_same_reply(fast, plain, monkeypatch):
    monkeypatch.setattr("engine.fast.MLP_TOKENS", 64)  # (the tiny model's prompts are short)
    reply = fast.complete(request(screen(5)))
    assert fast.last_stats.prompt_tokens - fast.last_stats.reused_prefix > 3 * 64
    assert reply.text == plain.complete(request(screen(5))).text


def test_new_tokens_attend_to_the_cached_prefix_and_to_the_new_tokens_before_them():
    generator = torch.Generator().manual_seed(5)
    q, keys, values = (torch.randn(1, heads, length, 16, generator=generator) for heads, length in ((4, 3), (2, 7), (2, 7)))
    out = prefix_attention(q, keys, values, 0.25)
    for head in range(4):  # query heads 0, 1 read KV head 0; 2, 3 read KV head 1
        for i in range(3):
            seen = 7 - 3 + i + 1
            weights = torch.softmax(q[0, head, i] @ keys[0, head // 2, :seen].T * 0.25, dim=-1)
            assert torch.allclose(out[0, head, i], weights @ values[0, head // 2, :seen], atol=1e-6)
