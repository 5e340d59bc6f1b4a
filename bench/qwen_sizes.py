"""The full-size dimensions of the default profile's vision-language model, for the benchmarks
that build it with random weights (bench/scene_sweep.py, bench/full_size_models.py)."""

from __future__ import annotations

# Qwen2.5-VL-3B-Instruct's dimensions, from its config.json on the hub (the vision tower's
# depth, widths, window and full-attention blocks are the class defaults that file relies on);
# it ties the output layer to the input embeddings (the builders pass `tie_word_embeddings=True`).
QWEN25_VL_3B: dict[str, dict] = {
    "text_config": {
        "vocab_size": 151936,
        "hidden_size": 2048,
        "intermediate_size": 11008,
        "num_hidden_layers": 36,
        "num_attention_heads": 16,
        "num_key_value_heads": 2,
        "rms_norm_eps": 1e-6,
        "max_position_embeddings": 128000,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1e6, "mrope_section": [16, 24, 24]},
    },
    "vision_config": {
        "depth": 32,
        "hidden_size": 1280,
        "intermediate_size": 3420,
        "num_heads": 16,
        "out_hidden_size": 2048,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "window_size": 112,
        "fullatt_block_indexes": [7, 15, 23, 31],
        "tokens_per_second": 2,
    },
}
