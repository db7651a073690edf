_base_ = ['../../_base_/default_runtime.py']
custom_imports = dict(
    imports=['vtg_plugins', 'vtg_r2_tuning'], allow_failed_imports=False)
default_scope = 'vtg_plugins'
default_hooks = dict(logger=dict(interval=50))
# saves the features' recipe into checkpoints (used by the inferencer)
custom_hooks = [dict(type='FeatureRecipeHook')]
