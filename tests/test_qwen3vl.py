"""The fast decoder's own Qwen3-VL against transformers' on the same tiny checkpoint, its loading
errors, and what loading it does not import (transformers' modeling code, torch's compiler)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from agent.model import Message, ModelRequest, ModelUnavailable, Sampling
from engine import qwen3vl
from engine.local import LocalModel


@pytest.fixture(scope="module")
def models(tiny_models):
    from transformers import Qwen3VLForConditionalGeneration

    folder = tiny_models["thinking"]
    return qwen3vl.load(folder, torch.device("cpu")), Qwen3VLForConditionalGeneration.from_pretrained(folder).eval()


def test_the_weights_are_transformers_own_and_the_head_shares_the_embedding(models):
    ours, theirs = models
    mine, reference = ours.state_dict(), theirs.state_dict()
    assert set(mine) == set(reference)
    assert all(torch.equal(mine[key], reference[key]) for key in mine)
    assert ours.lm_head.weight is ours.model.language_model.embed_tokens.weight


@pytest.mark.parametrize("grid", [(26, 40), (8, 8), (2, 30)])
def test_the_vision_tower_gives_transformers_features(models, grid):
    ours, theirs = models
    patches = torch.randn(grid[0] * grid[1], 3 * 2 * 16 * 16, generator=torch.Generator().manual_seed(grid[1]))
    with torch.no_grad():
        features, deepstack = ours.model.visual(patches, grid)
        reference = theirs.model.visual(patches, grid_thw=torch.tensor([[1, *grid]]))
    assert torch.allclose(features, reference.pooler_output, atol=1e-6)
    assert len(deepstack) == len(reference.deepstack_features) == 2
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(deepstack, reference.deepstack_features))


def test_m_rope_angles_are_transformers_also_from_an_older_config_layout(models, tiny_models, tmp_path):
    ours, theirs = models
    positions = torch.randint(0, 500, (3, 1, 9), generator=torch.Generator().manual_seed(1))
    x = torch.zeros(1, 9, 64)
    for a, b in zip(ours.model.language_model.rotary_emb(x, positions), theirs.model.language_model.rotary_emb(x, positions)):
        assert torch.allclose(a, b)
    older = shutil.copytree(tiny_models["thinking"], tmp_path / "older")  # rope settings where 4.57 kept them
    config = json.loads((older / "config.json").read_text())
    rope = config["text_config"].pop("rope_parameters")
    config["text_config"]["rope_theta"] = rope.pop("rope_theta")
    config["text_config"]["rope_scaling"] = rope
    config["vision_config"].pop("rope_parameters")
    (older / "config.json").write_text(json.dumps(config))
    again = qwen3vl.load(older, torch.device("cpu"))
    for a, b in zip(again.model.language_model.rotary_emb(x, positions), ours.model.language_model.rotary_emb(x, positions)):
        assert torch.equal(a, b)
    assert torch.equal(again.model.visual.inv_freq, ours.model.visual.inv_freq)


def screen() -> Image.Image:
    return Image.fromarray(np.random.default_rng(7).integers(0, 256, (416, 640, 3), dtype=np.uint8))


def broken_copy(tiny_models, tmp_path, change) -> str:
    folder = shutil.copytree(tiny_models["instruct"], tmp_path / "broken")
    change(folder)
    return str(folder)


def drop_tensor(folder) -> None:
    tensors = load_file(folder / "model.safetensors")
    del tensors["model.language_model.layers.1.mlp.up_proj.weight"]
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})


def wrong_shape(folder) -> None:
    tensors = load_file(folder / "model.safetensors")
    tensors["model.language_model.norm.weight"] = torch.ones(65)
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})


def other_model(folder) -> None:
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(config | {"model_type": "llava"}))


@pytest.mark.parametrize(("change", "words"), [
    (drop_tensor, "lacks model.language_model.layers.1.mlp.up_proj.weight$"),
    (wrong_shape, "does not match its config.json"),
    (other_model, "describes llava, not qwen3_vl"),
    (lambda folder: (folder / "model.safetensors").unlink(), "no model.safetensors"),
    (lambda folder: (folder / "config.json").write_text(json.dumps(
        json.loads((folder / "config.json").read_text()) | {"vision_config": {"depth": 2}})),
     "config.json lacks spatial_merge_size"),
    (lambda folder: (folder / "config.json").write_text("{"), "config.json.*valid JSON"),
])
def test_a_broken_checkpoint_is_refused_with_what_is_wrong(tiny_models, tmp_path, change, words):
    with pytest.raises(ModelUnavailable, match=f"cannot load a Qwen3-VL model from .*{words}"):
        LocalModel(broken_copy(tiny_models, tmp_path, change))


def test_loading_leaves_torchs_initialisers_working_even_when_two_models_load_at_once(tiny_models):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        loaded = list(pool.map(lambda mode: qwen3vl.load(tiny_models[mode], torch.device("cpu")), tiny_models))
    assert len(loaded) == 2
    weight = torch.zeros(64)
    torch.nn.init.normal_(weight)
    assert weight.abs().sum() > 0


def test_loading_for_the_fast_decoder_imports_neither_transformers_models_nor_torchs_compiler(tiny_models):
    script = (f"import sys; from engine.local import LocalModel; LocalModel({str(tiny_models['instruct'])!r}); "
              "print(sorted(m for m in ('transformers.modeling_utils', 'torch._dynamo') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]", out.stderr[-2000:]


def test_a_sharded_checkpoint_with_its_own_head_gives_transformers_tokens(tiny_models, tmp_path):
    """As the 8B model is published: ``lm_head`` apart from the embedding, the weights in shards."""
    from transformers import Qwen3VLForConditionalGeneration

    source = tiny_models["instruct"]
    model = Qwen3VLForConditionalGeneration.from_pretrained(source)
    model.config.tie_word_embeddings = model.config.text_config.tie_word_embeddings = False
    model.lm_head.weight = torch.nn.Parameter(torch.randn_like(model.lm_head.weight) * 0.5)
    folder = tmp_path / "sharded"
    model.save_pretrained(folder, max_shard_size="100KB")
    for path in source.iterdir():
        if not path.name.startswith("model") and path.name != "config.json":
            shutil.copy(path, folder / path.name)
    assert (folder / "model.safetensors.index.json").is_file()
    fast = LocalModel(str(folder), max_pixels=640 * 416)
    assert not torch.equal(fast.model.lm_head.weight, fast.model.model.language_model.embed_tokens.weight)
    request = ModelRequest((Message("system", ("You are a computer-use agent.",)), Message("user", (screen(), "Go."))),
                           sampling=Sampling(temperature=0.0, presence_penalty=0.0, max_new_tokens=24))
    reply = fast.complete(request)
    assert reply.text == LocalModel(str(folder), max_pixels=640 * 416, decoder="plain").complete(request).text
    assert len(set(reply.text)) > 3


def test_a_matrix_of_the_wrong_shape_is_named_as_it_is_converted(tiny_models, tmp_path):
    def narrow(folder) -> None:
        tensors = load_file(folder / "model.safetensors")
        tensors["model.language_model.layers.0.mlp.down_proj.weight"] = torch.zeros(64, 64)
        save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})

    with pytest.raises(ModelUnavailable, match=r"down_proj.weight is \(64, 64\), where the config makes it \(64, 128\)"):
        LocalModel(broken_copy(tiny_models, tmp_path, narrow), quantize="4bit")
