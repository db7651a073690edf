# Retrieval fine-tuning (run_video_retrieval.py) trains the stage-1 dual
# encoder with NCEContrastiveLoss(temp 0.08) (loss_config; the top-level
# `temp` of the configs is not read), t2v + v2t cross entropy over the
# features of every GPU; clips mean-pooled (score_agg_func not read here).
_base_ = ['./hd_vila_video-encoder_bert-large.py']
model = dict(
    type='HDVILARetrieval',
    video_encoder={{_base_.video_encoder}},
    bert_config={{_base_.bert_large}},
    bert_mean=True,
    bert_frozen_stage=-1,
    contrastive_loss=dict(
        type='NCEContrastiveLoss', temperature=0.08, loss_weight=1.0),
    data_preprocessor={{_base_.preprocessor}})
