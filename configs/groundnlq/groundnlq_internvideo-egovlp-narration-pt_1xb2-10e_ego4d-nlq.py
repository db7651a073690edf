# GroundNLQ fine-tuned on Ego4D NLQ train from the narration pre-training
# (official configs/ego4d_nlq_v2_pretrain_finetune_internvideo_2.5e-5.yaml,
# train_ft.py with tools/train_ego4d_finetune_head_singlegpu.sh): the heads
# start from their random init, everything else from the pre-trained
# weights; 1 GPU x 2 clips, 4 + 6 epochs. The released yaml reads the
# train+val jsonl; this config trains on train only so that its val numbers
# are clean (train+val: the *-trainval config).
_base_ = [
    './_base_/model.py', './_base_/datasets/ego4d_nlq.py',
    './_base_/schedule.py', './_base_/runtime.py'
]
# the official fine-tuning starts from epoch_005.pth.tar (0-based) of the
# pre-training, our epoch_6.pth; a converted official checkpoint works too
# (projects/groundnlq/tools/convert_official.py)
pretrained = ('work_dirs/groundnlq_internvideo-egovlp_4xb4-10e_'
              'ego4d-narration/epoch_6.pth')
model = dict(
    init_cfg=dict(
        type='PretrainedWithoutHeads',
        checkpoint=pretrained,
        drop_prefixes=('cls_head.', 'reg_head.', 'loss_normalizer'),
        weights='model'))
# official lr: 2.5e-5 in the yaml x torch.cuda.device_count() = 1 GPU
optim_wrapper = dict(optimizer=dict(lr=2.5e-5))
# the total batch (1 GPU x 2) this lr is for (--auto-scale-lr)
auto_scale_lr = dict(base_batch_size=2)
