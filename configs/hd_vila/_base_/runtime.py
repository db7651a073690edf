# HD-VILA runtime: the shared runtime and the project's registrations.
# Entry configs name the checkpoint kept as the best (the official scripts
# keep the best t2v R@1 of retrieval and report the best QA accuracy) and
# their official seed.
_base_ = ['../../_base_/default_runtime.py']
custom_imports = dict(
    imports=['vtg_plugins', 'vtg_hd_vila'], allow_failed_imports=False)
default_scope = 'vtg_plugins'
default_hooks = dict(
    logger=dict(interval=50), checkpoint=dict(interval=1, max_keep_ckpts=3))
randomness = dict(seed=24)
