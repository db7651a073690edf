# GroundNLQ fine-tuning on Ego4D-NLQ with DeepSpeed ZeRO-2 (fp16), the
# official 2 GPUs x 2. The EMA of the weights works under ZeRO-1/2 (every
# rank holds whole weights); FSDP and ZeRO-3 partition them and are refused.
#   bash tools/dist_train.sh \
#       configs/groundnlq/groundnlq_internvideo-egovlp_2xb2-13e_ego4d-nlq_deepspeed-zero2.py 2
_base_ = [
    './groundnlq_internvideo-egovlp_2xb2-13e_ego4d-nlq.py',
    '../_base_/strategies/deepspeed_zero2.py'
]
