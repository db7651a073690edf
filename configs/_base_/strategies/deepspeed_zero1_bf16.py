# deepspeed_zero1.py in bf16: fp32's exponent range, so no loss scale
# (Ampere and newer GPUs; the CPU accelerator).
#   tools/dist_train.sh CONFIG 8 --strategy deepspeed_zero1_bf16
_base_ = ['./deepspeed_zero1.py']
strategy = dict(
    fp16=dict(_delete_=True, enabled=False), bf16=dict(enabled=True))
