"""Fixed facts of the PersonaPlex model family (no torch here)."""

SAMPLE_RATE = 24000
FRAME_RATE = 12.5
FRAME_SIZE = 1920  # samples per 80 ms frame
NUM_CODEBOOKS = 8  # Mimi codebooks the model uses

# Streams of one frame: 0 text, 1-8 model audio, 9-16 user audio.
NUM_STREAMS = 17
MODEL_AUDIO = slice(1, 9)
USER_AUDIO = slice(9, 17)

TEXT_EPAD = 0
TEXT_PAD = 3
HIDDEN_TEXT = (TEXT_EPAD, TEXT_PAD)

SILENCE_CODES = (948, 243, 1178, 546, 1736, 1030, 1978, 2008)
SINE_CODES = (430, 1268, 381, 1611, 1095, 1495, 56, 472)
SILENCE_FRAMES = 6  # 0.5 s of silence around the text prompt

LM_FILE = "model.safetensors"
MIMI_FILE = "tokenizer-e351c8d8-checkpoint125.safetensors"
TOKENIZER_FILE = "tokenizer_spm_32k_3.model"
VOICES_FILE = "voices.tgz"
CONFIG_FILE = "config.json"

PRESET_VOICES = tuple(
    [f"NATF{i}" for i in range(4)] + [f"NATM{i}" for i in range(4)]
    + [f"VARF{i}" for i in range(5)] + [f"VARM{i}" for i in range(5)]
)

# moshi LMModel kwargs as PersonaPlex's loader sets them (reference/personaplex.md).
PERSONAPLEX_LM_KWARGS = {
    "dim": 4096,
    "text_card": 32000,
    "existing_text_padding_id": 3,
    "n_q": 16,
    "dep_q": 16,
    "card": 2048,
    "num_heads": 32,
    "num_layers": 32,
    "hidden_scale": 4.125,
    "causal": True,
    "layer_scale": None,
    "context": 3000,
    "max_period": 10000,
    "gating": "silu",
    "norm": "rms_norm_f32",
    "positional_embedding": "rope",
    "depformer_dim": 1024,
    "depformer_dim_feedforward": 4224,
    "depformer_num_heads": 16,
    "depformer_num_layers": 6,
    "depformer_layer_scale": None,
    "depformer_multi_linear": True,
    "depformer_context": 8,
    "depformer_max_period": 10000,
    "depformer_gating": "silu",
    "depformer_pos_emb": "none",
    "depformer_weights_per_step": True,
    "delays": [0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1],
}
