# HD-VILA's hybrid video encoder and BERT-large, as the official configs
# build them (resnet_depth 50, resnet_frozen_stage -1, timesformer_depth 4,
# timesformer_heads 16, hidden_size 1024; the TimeSformer tables are made
# for 7 frames on a 10 x 16 grid, official hard-coded values, and resized
# for other clip lengths / grids), src/configs/base_model_large.json
# (bert-large-uncased's architecture) and the official pixel normalisation
# (RGB, 0..255 scale; the TGIF configs' img_pixel_std / BGR are never read).
# The task model configs take these three dicts.
# Attention: SDPA by default; bert_config['attn_implementation'] = 'eager'
# reproduces the official arithmetic.
video_encoder = dict(
    type='HDVILAVideoEncoder',
    hidden_size=1024,
    resnet_depth=50,
    resnet_frozen_stage=-1,
    norm_eval=True,
    timesformer_depth=4,
    timesformer_heads=16,
    num_frames=7,
    grid_size=(10, 16),
    drop_path_rate=0.1)
bert_large = dict(
    vocab_size=30522,
    hidden_size=1024,
    num_hidden_layers=24,
    num_attention_heads=16,
    intermediate_size=4096,
    hidden_act='gelu',
    hidden_dropout_prob=0.1,
    attention_probs_dropout_prob=0.1,
    max_position_embeddings=512,
    type_vocab_size=2,
    initializer_range=0.02,
    layer_norm_eps=1e-12,
    pad_token_id=0,
    max_grid_row_position_embeddings=100,
    max_grid_col_position_embeddings=100)
preprocessor = dict(
    type='HDVILADataPreprocessor',
    mean=(123.675, 116.28, 103.53),
    std=(58.395, 57.12, 57.375))
