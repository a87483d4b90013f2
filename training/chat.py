"""Models that answer a ChatPrompt: an OpenAI-compatible chat-completions endpoint (standard library HTTP, bounded
retries with exponential backoff) and a local transformers vision-language model (greedy decoding)."""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from schemas.evaluation import EndpointConfig, LocalModelConfig
from training.prompts import ChatPrompt, SampleError, chat_content

RETRIED_STATUS = frozenset({408, 429, 500, 502, 503, 504})
FATAL_STATUS = frozenset({401, 403, 404})
"""Wrong key or URL: every request would fail the same way, so the run stops at once."""


class EndpointUnavailable(RuntimeError):
    """The endpoint failed after every retry, or refused the configuration: the run stops (answers already received
    are kept in the run's response cache; rerun to resume)."""


class EndpointClient:
    """POST {base_url}/chat/completions with frames as base64 JPEG data URIs, temperature 0."""

    def __init__(self, config: EndpointConfig, sleep: Callable[[float], None] = time.sleep):
        self.config = config
        self.url = config.base_url.rstrip("/") + "/chat/completions"
        self._sleep = sleep
        self._headers = {"Content-Type": "application/json"}
        if config.api_key_env:
            token = os.environ.get(config.api_key_env)
            if not token:
                raise ValueError(f"environment variable {config.api_key_env} (endpoint.api_key_env) is not set")
            self._headers["Authorization"] = f"Bearer {token}"

    def complete(self, prompt: ChatPrompt) -> str:
        """The assistant's text; SampleError for an unusable reply, EndpointUnavailable when retries run out."""
        body = json.dumps({"model": self.config.model, "temperature": 0, "max_tokens": self.config.max_tokens,
                           "messages": [{"role": "user", "content": chat_content(prompt, _image_url_part)}]})
        attempts = self.config.max_retries + 1
        for attempt in range(attempts):
            try:
                return _assistant_text(self._post(body.encode()))
            except _Transient as err:
                failure = err
                if attempt + 1 < attempts:
                    self._sleep(self.config.backoff_s * 2 ** attempt)
        raise EndpointUnavailable(f"{self.url}: {failure} (gave up after {attempts} attempts)") from failure

    def _post(self, body: bytes) -> bytes:
        request = urllib.request.Request(self.url, data=body, headers=self._headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.config.timeout_s) as reply:
                return reply.read()
        except urllib.error.HTTPError as err:
            detail = _clip(err.read().decode("utf-8", "replace"))
            if err.code in RETRIED_STATUS:
                raise _Transient(f"HTTP {err.code} {detail}") from err
            if err.code in FATAL_STATUS:
                raise EndpointUnavailable(f"{self.url}: HTTP {err.code} {detail}; check base_url, model and "
                                          f"api_key_env") from err
            raise SampleError(f"endpoint answered HTTP {err.code}: {detail}") from err
        except (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException) as err:
            raise _Transient(f"{type(err).__name__}: {getattr(err, 'reason', err)}") from err


class _Transient(Exception):
    """A connection error, timeout, 429 or 5xx: worth retrying."""


def _image_url_part(jpeg: bytes) -> dict:
    return {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()}}


def _assistant_text(raw: bytes) -> str:
    """choices[0].message.content of a chat-completions reply (a string or a list of text parts)."""
    try:
        payload = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise SampleError(f"endpoint reply is not JSON: {_clip(raw.decode('utf-8', 'replace'))!r}") from None
    if not isinstance(payload, dict):
        raise SampleError(f"endpoint reply is not a JSON object: {_clip(json.dumps(payload))}")
    choices = payload.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        reason = f" (error: {_clip(json.dumps(payload['error']))})" if "error" in payload else ""
        raise SampleError(f"endpoint reply has no choices{reason}")
    message = choices[0].get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list):
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    if not isinstance(content, str):
        raise SampleError(f"endpoint reply's first choice has no text content: {_clip(json.dumps(choices[0]))}")
    return content


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


class LocalVisionModel:
    """A vision-language model from a local directory (AutoProcessor + AutoModelForImageTextToText, e.g. Qwen2-VL),
    frames passed as images through the processor's chat template, greedy decoding."""

    def __init__(self, config: LocalModelConfig):
        import torch  # noqa: PLC0415 (heavy; only this predictor needs it)
        from transformers import AutoModelForImageTextToText, AutoProcessor  # noqa: PLC0415

        directory = Path(config.model_dir)
        if not (directory / "config.json").is_file():
            raise FileNotFoundError(f"{directory} is not a saved model directory (no config.json)")
        self.config = config
        self.device = config.device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.processor = AutoProcessor.from_pretrained(directory)
        if getattr(self.processor, "chat_template", None) is None:
            raise ValueError(f"the processor in {directory} has no chat template")
        self.model = AutoModelForImageTextToText.from_pretrained(directory, dtype="auto").to(self.device).eval()

    def complete(self, prompt: ChatPrompt) -> str:
        import torch  # noqa: PLC0415
        from PIL import Image  # noqa: PLC0415

        images = [Image.open(io.BytesIO(jpeg)).convert("RGB") for jpeg in prompt.frames_jpeg]
        messages = [{"role": "user", "content": chat_content(prompt, lambda _: {"type": "image"})}]
        try:
            text = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            inputs = self.processor(text=[text], images=images or None, return_tensors="pt").to(self.device)
            with torch.inference_mode():
                output = self.model.generate(**inputs, max_new_tokens=self.config.max_new_tokens, do_sample=False)
        except (RuntimeError, ValueError) as err:
            raise SampleError(f"generation failed: {type(err).__name__}: {_clip(str(err))}") from err
        new_tokens = output[:, inputs["input_ids"].shape[1]:]
        return self.processor.batch_decode(new_tokens, skip_special_tokens=True)[0]
