"""The HTTP API's request bodies, as strict pydantic models (the OpenAPI page is made from them).

Only shapes and limits live here; what the server does with them is in the route modules.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.model import Mode

class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SamplingOptions(Strict):
    mode: Mode | None = Field(None, description="instruct or thinking (default: the server's --mode)")
    temperature: float | None = Field(None, ge=0, le=2, description="0 = greedy; default: the model card's")
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=16, le=32768, description="longest reply in tokens")


class ChatPart(Strict):
    """A piece of a chat message: text, an image or a video (base64 or a data: URL)."""

    type: Literal["text", "image", "video"]
    text: str | None = Field(None, max_length=100_000)
    data: str | None = Field(None, description="the image or video, as base64 or a data: URL")
    fps: float = Field(1.0, description="video: frames sampled per second (at most 32 frames)")


class ChatTurn(Strict):
    role: Literal["user", "assistant"]
    content: list[ChatPart] = Field(min_length=1, max_length=64)


class ChatRequest(SamplingOptions):
    """The page's chat: the conversation so far, ending with the user's message."""

    messages: list[ChatTurn] = Field(min_length=1, max_length=200)
    locate: bool = Field(False, description="find what the last message describes in the last image")


class PredictRequest(BaseModel):
    """The seed's API: ``{"data": [prompt, image_or_null, "thinking" | "instruct"]}``."""

    data: list[Any] = Field(min_length=1, max_length=3,
                            description="[prompt, image as base64 or data: URL or null, mode]")


class OpenAIMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "user", "assistant", "developer"]
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat-completions request; fields this server does not use are ignored."""

    model_config = ConfigDict(extra="ignore")

    model: str | None = Field(None, description="any name; one containing 'thinking' (or 'instruct') picks the mode")
    messages: list[OpenAIMessage] = Field(min_length=1, max_length=200)
    stream: bool = False
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=0, description="as vLLM reads it")
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    max_tokens: int | None = Field(None, ge=1, le=32768)
    max_completion_tokens: int | None = Field(None, ge=1, le=32768)
    stream_options: dict[str, Any] | None = None
    thinking_budget: int | None = Field(None, ge=0, le=32768, description="this server's own: tokens of thought "
                                        "before the thought is closed so the answer can start (default: "
                                        "--thinking-budget)")
    mode: Mode | None = Field(None, description="instruct or thinking; beats the model name")


class RunRequest(Strict):
    """Start an agent run (``instruction``), a replay (``recording``) or a form fill (``form``) on the desktop."""

    kind: Literal["run", "replay", "fill"] = "run"
    instruction: str | None = Field(None, min_length=1, max_length=4000)
    mode: Mode | None = None
    max_steps: int | None = Field(None, ge=1, le=500)
    dry_run: bool | None = None
    recording: str | None = Field(None, description="replay: the recording's name")
    params: dict[str, str] = Field(default_factory=dict, description="replay: values for the recording's {NAME}s")
    speed: float = Field(1.0, gt=0, le=20, description="replay: faster than recorded by this factor")
    form: str | None = Field(None, max_length=200_000, description="fill: the form spec, as YAML text")
    rows: str | None = Field(None, max_length=20_000_000, description="fill: the data rows, as CSV or JSON-lines text")
    rows_format: Literal["csv", "jsonl"] = "csv"
    locator: Literal["auto", "accessibility", "ocr", "model"] = Field("auto", description="fill: how fields are found")


class DecisionRequest(Strict):
    approve: bool
    approval: int | None = Field(None, description="the approval's number, to be sure it is the one shown")
