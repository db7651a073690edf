# GroundNLQ fine-tuned on Ego4D NLQ train + val for the test-server
# submission (official configs/ego4d_nlq_v2_pretrain_finetune_internvideo_
# 5e-5_train+val.yaml, whose learning_rate is 2.5e-5; the README runs it on
# 1 GPU). `tools/test.py CONFIG CKPT` writes the EvalAI json of the test
# split (nlq_test_unannotated.json) to work_dirs/.../nlq_test_submission.json.
_base_ = ['./groundnlq_internvideo-egovlp-narration-pt_1xb2-10e_ego4d-nlq.py']
data_root = 'data/ego4d_nlq/'
ann_dir = 'ego4d_data/ego4d_nlq_v2_ori_data/'
train_split = dict(
    type='Ego4DNLQDataset',
    data_root=data_root,
    ann_format='ego4d_nlq_json',
    video_store=dict(
        type='LMDBStore',
        root='lmdb/em_egovlp+internvideo_visual_features_1.87fps'),
    query_store=dict(
        type='LMDBStore', root='lmdb/nlq_v2_clip_token_features'),
    recipe={{_base_.video_recipe}},
    query_recipe={{_base_.query_recipe}},
    pipeline=[dict(type='PackGroundNLQInputs')])
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        datasets=[
            dict(train_split, ann_file=ann_dir + 'nlq_train.json'),
            dict(train_split, ann_file=ann_dir + 'nlq_val.json'),
        ]))
# val (seen in training) is still scored each epoch, as official
test_dataloader = dict(
    dataset=dict(ann_file=ann_dir + 'nlq_test_unannotated.json'))
test_evaluator = dict(
    _delete_=True,
    type='DumpSubmission',
    out_file_path='work_dirs/groundnlq_internvideo-egovlp-narration-pt_'
    '1xb2-10e_ego4d-nlq-trainval/nlq_test_submission.json')
