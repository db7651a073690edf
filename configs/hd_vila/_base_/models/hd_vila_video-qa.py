# Open-ended QA (run_video_qa.py, HDVILAForSequenceClassification): the
# question with every clip through the whole BERT-large, the MLP classifier
# (classifier 'mlp', cls_hidden_scale 2) on pooler2; entry configs set
# num_labels (official max(len(ans2label), 1500 | 1540)) and
# score_agg_func. The configs' `dropout` is not read: the BERT config's
# 0.1 applies.
_base_ = ['./hd_vila_video-encoder_bert-large.py']
model = dict(
    type='HDVILAVideoQA',
    video_encoder={{_base_.video_encoder}},
    bert_config={{_base_.bert_large}},
    num_labels=1500,
    score_agg_func='mean',
    data_preprocessor={{_base_.preprocessor}})
