# Stage-1 pre-training (run_pretrain_stage1_group.py): the dual encoder
# (the first 12 BERT-large layers on the caption, the video encoder) and
# the contrastive loss over the features of every GPU, temp 0.05,
# 0.5 x (t2v + v2t cross entropy). The entry config names the starting
# weights.
_base_ = ['./hd_vila_video-encoder_bert-large.py']
model = dict(
    type='HDVILAPretrainStage1',
    video_encoder={{_base_.video_encoder}},
    bert_config={{_base_.bert_large}},
    bert_mean=True,
    bert_frozen_stage=-1,
    contrastive_loss=dict(
        type='NCEContrastiveLoss', temperature=0.05, loss_weight=0.5),
    data_preprocessor={{_base_.preprocessor}})
