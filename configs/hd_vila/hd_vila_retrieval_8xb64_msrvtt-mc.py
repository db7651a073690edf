# MSRVTT-MC with the MSR-VTT retrieval model (tasks/run_msrvtt_mc.py, README
# "MSRVTT Multi-choice Inference"): each of the 5 caption options scored by
# the dot product of its text feature with the video feature, accuracy of
# the argmax. Inference only, on the checkpoint of
# hd_vila_retrieval_8xb8-200e_msrvtt.py:
#   bash tools/dist_test.sh \
#       configs/hd_vila/hd_vila_retrieval_8xb64_msrvtt-mc.py \
#       work_dirs/hd_vila_retrieval_8xb8-200e_msrvtt/best_msrvtt_t2v_R1_*.pth 8
# GPUs: $NUM_GPUS in the README; 8 as the fine-tuning (microsoft/XPretrain
# issue #3), 64 videos each (--inference_batch_size 64).
_base_ = [
    './_base_/models/hd_vila_retrieval.py', './_base_/datasets/msrvtt_mc.py',
    './_base_/runtime.py'
]
model = dict(type='HDVILARetrievalMultipleChoice')
test_cfg = dict(type='TestLoop')
