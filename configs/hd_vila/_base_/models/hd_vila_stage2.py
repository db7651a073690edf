# Stage-2 pre-training (run_pretrain_stage2_group.py): MLM through the
# cross-modal half of BERT-large (layers 12-23) over 160 sampled visual
# tokens per clip, clip scores pooled by log-sum-exp; the stage-1 parts are
# frozen (freeze_s1), no ITM (use_itm 0). bert-base-uncased ids: [MASK] 103.
_base_ = ['./hd_vila_video-encoder_bert-large.py']
model = dict(
    type='HDVILAPretrainStage2',
    video_encoder={{_base_.video_encoder}},
    bert_config={{_base_.bert_large}},
    score_agg_func='lse',
    bert_mean=True,
    pixel_random_sampling_size=160,
    freeze_stage1=True,
    use_itm=False,
    mlm_probability=0.15,
    mask_token_id=103,
    special_token_ids=(0, 100, 101, 102, 103),
    data_preprocessor={{_base_.preprocessor}})
