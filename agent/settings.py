"""The one settings object, built at the entry point and passed down.

Sources, strongest first: command-line options, ``AGENT_*`` environment variables, a TOML
config file (``--config FILE``, else ``agent.toml`` in the working directory if present),
then the defaults below. Modules never read the environment themselves.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from agent.model import Mode, Sampling
from agent.profiles import DEFAULT_PROFILE, UnknownProfile, load_profile
from agent.zoom import Zoom
from errors import BadInput
from safety.killswitch import DEFAULT_HOTKEY

DEFAULT_MODELS = {"instruct": "Qwen/Qwen3-VL-4B-Instruct", "thinking": "Qwen/Qwen3-VL-4B-Thinking"}


class SettingsError(BadInput):
    """A config file or option that cannot be used; the message names it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AGENT_", extra="forbid", toml_file="agent.toml")

    backend: Literal["transformers", "openai", "scripted", "simulated"] | None = Field(
        None, description="Which model answers. Default: scripted with a script, openai with a base URL, "
        "else transformers (the model in this process); simulated: a stand-in grounder for measuring ground-eval.")
    script: Path | None = Field(None, description="Reply file for the scripted backend.")
    mode: Mode = Field("instruct", description="Qwen3-VL variant: instruct (fast) or thinking (reasons first).")
    model: str | None = Field(None, description="Hub id or folder of the weights (transformers), or the served "
                              "model name (openai). Default: Qwen3-VL-4B of the chosen mode.")
    quantize: Literal["4bit", "8bit"] | None = Field(
        None, description="Convert the weights at load: 8bit to FP8 (Ada or Hopper GPUs), 4bit to INT4.")
    cpu_offload: bool = Field(False, description="Put what does not fit on the GPU in CPU memory.")
    gpu_memory: float | None = Field(None, gt=0, description="GiB of GPU memory the weights may use (with cpu_offload).")
    attn: Literal["sdpa", "flash_attention_2", "eager"] = "sdpa"
    decoder: Literal["fast", "plain"] = Field("fast", description="fast: static KV cache, CUDA graphs, prefix and "
                                              "vision reuse; plain: transformers' generate (for comparison).")
    batch: int = Field(8, ge=1, le=64, description="Replies the in-process model decodes together (fast decoder): "
                       "several agents, web requests or eval tasks at once share each decode step.")
    profile: str = Field(DEFAULT_PROFILE, description="How the model is spoken to: its prompt, tool description, "
                         "history and reply format (agent/prompts/profiles).")
    refine: Literal["none", "zoom"] = Field("none", description="zoom: a second look at a crop around each point.")
    zoom_views: int = Field(1, ge=1, le=5, description="Crops asked with --refine zoom; above 1 the median point wins.")
    max_new_tokens: int | None = Field(None, ge=16, description="Longest reply, in tokens (default per mode).")
    thinking_budget: int | None = Field(None, ge=0, description="Longest thought before the model must act "
                                        "(thinking mode; default 1024 tokens).")
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=0)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    base_url: str | None = Field(None, pattern=r"^https?://", description="An OpenAI-compatible server, e.g. "
                                 "http://localhost:8000/v1.")
    api_key: SecretStr | None = Field(None, validation_alias=AliasChoices("api_key", "AGENT_API_KEY", "OPENAI_API_KEY"),
                                      description="Key for the server; from AGENT_API_KEY or OPENAI_API_KEY.")
    request_timeout: float = Field(120.0, gt=0, description="Seconds to wait for the server's next bytes.")
    retries: int = Field(3, ge=0, description="Retries of a failed server request, with backoff.")
    max_steps: int = Field(30, ge=1)
    max_errors: int = Field(3, ge=1, description="Unusable replies or refused actions in a row before stopping.")
    confirm: Literal["ask", "allow", "deny"] | None = Field(
        None, description="Actions the policy wants confirmed: ask a person, allow, or deny. "
        "Default: ask when a terminal is attached, else deny.")
    dry_run: bool = False
    monitor: str = Field("primary", pattern=r"^(primary|active|\d+)$")
    runs_dir: Path = Path("runs")
    recordings_dir: Path = Field(Path("recordings"), description="Where recorded demonstrations are kept.")
    max_pixels: int = Field(1280 * 800, ge=32 * 32 * 4, description="Pixel budget of the screenshot the model sees.")
    history_images: int = Field(1, ge=1, description="Screenshots sent per step (the current one and earlier ones).")
    policy: Path | None = Field(None, description="A TOML file of safety rules added to the defaults.")
    sensitive_windows: list[str] = Field(default_factory=list, description="Title patterns of windows whose "
                                         "actions always need confirmation.")
    stop_hotkey: str = DEFAULT_HOTKEY
    settle_timeout: float = Field(2.0, gt=0)
    log_level: str = "INFO"

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @property
    def backend_choice(self) -> Literal["transformers", "openai", "scripted", "simulated"]:
        if self.backend is not None:
            return self.backend
        if self.script is not None:
            return "scripted"
        return "openai" if self.base_url else "transformers"

    @property
    def model_id(self) -> str:
        return self.model or DEFAULT_MODELS[self.mode]

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, name: str) -> str:
        try:
            load_profile(name)
        except UnknownProfile as error:
            raise ValueError(str(error)) from None
        return name

    def sampling(self) -> Sampling:
        """The model card's sampling for the mode (a profile's published temperature first), then the settings here."""
        temperature = self.temperature if self.temperature is not None else load_profile(self.profile).temperature
        return Sampling.for_mode(
            self.mode, temperature=temperature, top_p=self.top_p, top_k=self.top_k,
            presence_penalty=self.presence_penalty, max_new_tokens=self.max_new_tokens,
            thinking_budget=self.thinking_budget,
        )

    def zoom(self) -> Zoom | None:
        """The zoom-in refinement asked for, if any."""
        return Zoom(views=self.zoom_views) if self.refine == "zoom" else None

    @property
    def monitor_choice(self) -> int | str:
        return int(self.monitor) if self.monitor.isdigit() else self.monitor

    @property
    def confirm_mode(self) -> Literal["ask", "allow", "deny"]:
        if self.confirm is not None:
            return self.confirm
        return "ask" if sys.stdin.isatty() else "deny"


def load_settings(config_file: Path | None = None, **options: Any) -> Settings:
    """Settings from options, environment and config file, with errors a person can act on."""
    if config_file is not None and not Path(config_file).is_file():
        raise SettingsError(f"config file {config_file} does not exist")

    class FromFile(Settings):
        model_config = SettingsConfigDict(toml_file=config_file or "agent.toml")

    try:
        return FromFile(**{k: v for k, v in options.items() if v is not None})
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise SettingsError(f"invalid settings: {problems}") from None
    except ValueError as error:  # e.g. a config file that is not TOML
        raise SettingsError(f"cannot read config file {config_file or 'agent.toml'}: {error}") from None
