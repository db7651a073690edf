# TGIF-QA Action / Transition (run_video_qa.py, HDVILAForMultipleChoice):
# each "question option" row with every clip through the whole BERT-large,
# one score per option from the MLP head, clip scores averaged
# (score_agg_func: the default 'mean', the TGIF configs set none).
_base_ = ['./hd_vila_video-encoder_bert-large.py']
model = dict(
    type='HDVILAMultipleChoice',
    video_encoder={{_base_.video_encoder}},
    bert_config={{_base_.bert_large}},
    score_agg_func='mean',
    data_preprocessor={{_base_.preprocessor}})
