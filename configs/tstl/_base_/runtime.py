# TSTL runtime: the shared runtime, the project's registrations, checkpoints
# every `--save_ckpt_freq` epochs, the best kept by top-1 accuracy.
_base_ = ['../../_base_/default_runtime.py']
custom_imports = dict(
    imports=['vtg_plugins', 'vtg_tstl'], allow_failed_imports=False)
default_scope = 'vtg_plugins'
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=1, save_best='acc/top1', rule='greater'))
randomness = dict(seed=0)  # --seed 0
