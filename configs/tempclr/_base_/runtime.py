# TempCLR runtime: the shared runtime and the project's registrations.
# Pre-training keeps checkpoints by epoch (the official run saves every 1024
# updates and keeps everything; it selects no best: there is no validation
# metric); downstream configs set their own model selection.
_base_ = ['../../_base_/default_runtime.py']
custom_imports = dict(
    imports=['vtg_plugins', 'vtg_tempclr'], allow_failed_imports=False)
default_scope = 'vtg_plugins'
default_hooks = dict(
    logger=dict(interval=100),
    checkpoint=dict(interval=1, max_keep_ckpts=-1, save_best=None))
randomness = dict(seed=0)
