# Zero-shot CrossTask step localisation (official test_crosstask_zs.yaml):
# a pre-trained dual encoder (VideoCLIP checkpoint_best or a TempCLR
# checkpoint, converted) scores each frame against each step; the official
# dynamic programme assigns steps in order; CrossTaskMetric gives the
# recall per task and its mean.
#   python tools/test.py configs/tempclr/tempclr_videoclip-zeroshot_1xb1_crosstask.py \
#       checkpoints/tempclr_checkpoint_layernorm_DTW.pth
_base_ = ['./_base_/datasets/crosstask.py', './_base_/runtime.py']
model = dict(
    type='TempCLRStepLocalizer',
    bert_config=dict(),
    video_layers=6,
    input_dim=512,
    max_video_len=32,
    data_preprocessor=dict(type='TempCLRDataPreprocessor'))
train_dataloader = None
test_cfg = dict(type='TestLoop')
