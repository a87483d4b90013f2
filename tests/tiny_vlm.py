"""A tiny random-init Qwen2-VL built from its config alone, saved so that it loads offline from a local directory.

Real architecture, tokenizer and processor classes at toy sizes (ENVIRONMENT.md "Training stack"): a byte-level
`Qwen2Tokenizer` over the 256 byte symbols plus Qwen's special tokens, a `Qwen2VLProcessor` with hand-built image and
video processors (patch 14, temporal patch 2, merge 2, 56²–112² pixels) and Qwen2-VL's own chat template (the one TRL
ships as `qwen2_5_vl.jinja`, byte-identical for Qwen2-VL), text hidden size 64 with 2 layers.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from runtime.offline import quiet_environment

quiet_environment()

import torch  # noqa: E402
from transformers import (  # noqa: E402
    Qwen2Tokenizer,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
    Qwen2VLImageProcessor,
    Qwen2VLProcessor,
    Qwen2VLVideoProcessor,
)
from transformers.convert_slow_tokenizer import bytes_to_unicode  # noqa: E402

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
                  "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
                  "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>")
TEXT_HIDDEN = 64
HEADS = 4
PIXELS = {"min_pixels": 56 * 56, "max_pixels": 112 * 112}


def build_tiny_qwen2vl(directory: Path, seed: int = 0) -> Path:
    """Build, save and return `directory`: a ~190k-parameter Qwen2-VL (model, tokenizer, processor) for CPU tests."""
    directory = Path(directory)
    byte_symbols = list(bytes_to_unicode().values())
    vocab = {symbol: i for i, symbol in enumerate(byte_symbols)}
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[], unk_token="<|endoftext|>", eos_token="<|im_end|>",
                               pad_token="<|endoftext|>", errors="replace")
    tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS[1:])})
    token_id = tokenizer.convert_tokens_to_ids
    processor = Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(patch_size=14, temporal_patch_size=2, merge_size=2, **PIXELS),
        video_processor=Qwen2VLVideoProcessor(patch_size=14, temporal_patch_size=2, merge_size=2, **PIXELS),
        tokenizer=tokenizer,
        chat_template=(files("trl") / "chat_templates" / "qwen2_5_vl.jinja").read_text(),
    )
    head_dim = TEXT_HIDDEN // HEADS
    config = Qwen2VLConfig(
        text_config={
            "vocab_size": len(tokenizer), "hidden_size": TEXT_HIDDEN, "intermediate_size": 128,
            "num_hidden_layers": 2, "num_attention_heads": HEADS, "num_key_value_heads": 2,
            "max_position_embeddings": 2048,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                                "mrope_section": [head_dim // 4, head_dim // 8, head_dim // 8]},
            "bos_token_id": token_id("<|endoftext|>"), "eos_token_id": token_id("<|im_end|>"),
            "pad_token_id": token_id("<|endoftext|>"),
        },
        vision_config={"depth": 2, "embed_dim": 32, "hidden_size": TEXT_HIDDEN, "num_heads": 2, "mlp_ratio": 2,
                       "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2},
        image_token_id=token_id("<|image_pad|>"), video_token_id=token_id("<|video_pad|>"),
        vision_start_token_id=token_id("<|vision_start|>"), vision_end_token_id=token_id("<|vision_end|>"),
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(config)
    model.generation_config.eos_token_id = token_id("<|im_end|>")
    model.generation_config.pad_token_id = token_id("<|endoftext|>")
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory
