# The VideoCLIP dual encoder of MMPT (model_cls MMFusionSeparate):
# S3D features (512-d, one per second) -> VideoTokenMLP -> a 6-layer BERT
# (video_encoder_cls MMBertForEncoder, num_hidden_video_layers 6); captions
# -> the 12-layer BERT (text_encoder_cls BertModel); both bert-base-uncased
# (BertConfig's defaults), masked mean pooling, raw dot-product scores.
# Attention: SDPA by default; bert_config=dict(attn_implementation='eager')
# reproduces the official (transformers 3.x) attention bit for bit.
model = dict(
    type='TempCLRDualEncoder',
    bert_config=dict(),
    video_layers=6,
    input_dim=512,
    max_video_len=32,
    contrastive_loss=dict(type='SymmetricContrastiveLoss'),
    data_preprocessor=dict(type='TempCLRDataPreprocessor'))
