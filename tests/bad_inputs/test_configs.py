"""Bad configs given to ``tools/train.py`` / ``tools/test.py``: misspelt keys
(in ``--cfg-options`` or in a config file), unknown types, type-less dicts
the Runner cannot build. The lint (``launch.lint_config``) refuses each
before the Runner is built; every test asserts the error type and that the
message names the config file, the key path and what is wrong."""
import re
from pathlib import Path

import pytest
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import DefaultScope

from vtg_plugins.registry import MODELS, TRANSFORMS
from vtg_plugins.testing.configs import write_config
from vtg_plugins.utils import launch
from vtg_plugins.utils.config_lint import ConfigLintError

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / 'configs' / 'smoke' / 'smoke_linear_1xb4-4e_synthetic.py'
R2 = REPO / 'configs' / 'r2_tuning' / \
    'r2_tuning_tiny_1xb32-12e_synthetic-qvhighlights.py'
NLQ = REPO / 'configs' / 'groundnlq' / \
    'groundnlq_tiny_1xb2-3e_synthetic-ego4d-nlq.py'


def assert_refused(config: Path, options=None, *parts: str) -> str:
    """Lint ``config`` with ``options``; assert a ConfigLintError whose
    message names the file and matches every regex of ``parts``."""
    cfg = launch.load_config(str(config), options)
    with pytest.raises(ConfigLintError) as info:
        launch.lint_config(cfg, str(config), options)
    msg = str(info.value)
    assert msg.startswith(f'{config}: '), msg
    for part in parts:
        assert re.search(part, msg), f'{part!r} not in:\n{msg}'
    return msg


def test_misspelt_checkpoint_hook_key_stops_before_training(tmp_path, run_cmd):
    # the case: trained a whole epoch, then crashed in
    # save_checkpoint without writing a checkpoint
    proc = run_cmd([
        'python', REPO / 'tools' / 'train.py', SMOKE, '--work-dir',
        tmp_path / 'wd', '--cfg-options', 'default_hooks.checkpoint.intervl=1'
    ],
                   cwd=tmp_path,
                   check=False)
    assert proc.returncode != 0
    assert f'{SMOKE}: 1 config problem' in proc.stdout
    assert ("default_hooks.checkpoint.intervl: CheckpointHook takes no "
            "argument 'intervl'; did you mean 'interval'? (from "
            "--cfg-options default_hooks.checkpoint.intervl)") in proc.stdout
    assert '--no-config-lint skips it' in proc.stdout
    assert 'Epoch(train)' not in proc.stdout
    assert not list((tmp_path / 'wd').rglob('*.pth'))


def test_misspelt_train_loop_key():
    assert_refused(
        SMOKE, {'train_cfg.max_epoch': 2},
        r"train_cfg\.max_epoch: EpochBasedTrainLoop takes no argument "
        r"'max_epoch'; did you mean 'max_epochs'\?")


def test_unknown_r2tuning_test_cfg_key():
    assert_refused(
        R2, {'model.test_cfg.untis': 1},
        r"model: R2Tuning: unknown test_cfg keys \['untis'\]; "
        r"did you mean \['unit'\]\?",
        r"valid: \['max_batch_elements', 'nms_cfg', 'unit'\]",
        r'from --cfg-options model\.test_cfg\.untis')


def test_test_tool_refuses_unknown_test_cfg_key(tmp_path, run_cmd):
    # refused before the (here missing) checkpoint is even looked at
    proc = run_cmd([
        'python', REPO / 'tools' / 'test.py', R2, tmp_path / 'none.pth',
        '--work-dir', tmp_path / 'wd', '--cfg-options',
        'model.test_cfg.untis=1'
    ],
                   cwd=tmp_path,
                   check=False)
    assert proc.returncode != 0
    assert f'{R2}: 1 config problem' in proc.stdout
    assert "unknown test_cfg keys ['untis']" in proc.stdout


def test_nms_key_of_another_nms_kind():
    # switching the NMS kind on the command line keeps the base's `thres`,
    # which linear NMS would silently ignore
    assert_refused(R2, {'model.test_cfg.nms_cfg.type': 'linear'},
             r"unknown test_cfg\.nms_cfg \(linear NMS\) keys \['thres'\]")


@pytest.mark.parametrize('config, key, valid', [
    (R2, 'untis', "'max_batch_elements', 'nms_cfg', 'unit'"),
    (NLQ, 'max_seg_nums', "'duration_thresh', 'half_frame_offset'"),
])
def test_model_built_with_unknown_test_cfg_key(config, key, valid):
    # without a config file too (the model's own check)
    cfg = launch.load_config(str(config), None)
    model_cfg = dict(cfg.model, test_cfg=dict(cfg.model.test_cfg, **{key: 1}))
    with DefaultScope.overwrite_default_scope(cfg.default_scope), \
            pytest.raises(ValueError) as info:
        MODELS.build(model_cfg)
    msg = str(info.value)
    assert f"unknown test_cfg keys ['{key}']" in msg and valid in msg, msg


def test_unknown_groundnlq_test_cfg_key():
    assert_refused(
        NLQ, {'model.test_cfg.max_seg_nums': 5},
        r"model: GroundNLQ: unknown test_cfg keys \['max_seg_nums'\]; "
        r"did you mean \['max_seg_num'\]\?")


def test_misspelt_key_in_a_config_file(tmp_path):
    config = write_config(tmp_path / 'mine.py', SMOKE,
                          'default_hooks = dict(checkpoint=dict(intervl=2))')
    assert_refused(
        config, None,
        r"default_hooks\.checkpoint\.intervl: CheckpointHook takes no "
        r"argument 'intervl'; did you mean 'interval'\?",
        rf'\(in {re.escape(str(config))}\)')


def test_misspelt_key_in_a_base_file(tmp_path):
    base = write_config(tmp_path / 'base.py', SMOKE, "model = dict(dimm=8)")
    config = write_config(tmp_path / 'entry.py', base, 'seed = 0')
    assert_refused(
        config, None,
        r"model\.dimm: ToyRegressor takes no argument 'dimm'; did you "
        r"mean 'dim'\?", rf'\(in {re.escape(str(base))}\)')


def test_unknown_model_type():
    assert_refused(
        R2, {'model.type': 'R2Tunning'},
        r"model\.type: unknown model type 'R2Tunning'; did you mean "
        r"'R2Tuning'")


def test_misspelt_transform_argument():
    assert_refused(
        R2, {'train_dataloader.dataset.dataset.pipeline.0.max_salency': 3},
        r"train_dataloader\.dataset\.dataset\.pipeline\.0\.max_salency: "
        r"R2GroundingTargets takes no argument 'max_salency'; did you "
        r"mean 'max_saliency'\?")


def test_misspelt_dataset_argument():
    assert_refused(
        NLQ, {'val_dataloader.dataset.window_polcy': 'clip'},
        r"val_dataloader\.dataset\.window_polcy: Ego4DNLQDataset takes "
        r"no argument 'window_polcy'; did you mean 'window_policy'\?")


def test_misspelt_feature_store_argument():
    assert_refused(
        NLQ, {'train_dataloader.dataset.video_store.rooot': 'x'},
        r"train_dataloader\.dataset\.video_store\.rooot: LMDBStore takes"
        r" no argument 'rooot'; did you mean 'root'\?")


def test_misspelt_dataloader_argument():
    assert_refused(
        SMOKE, {'train_dataloader.num_worker': 2},
        r"train_dataloader\.num_worker: the dataloader \(torch "
        r"DataLoader\) takes no argument 'num_worker'; did you mean "
        r"'num_workers'")


def test_misspelt_optimizer_and_wrapper_arguments():
    assert_refused(
        R2, {
            'optim_wrapper.optimizer.weight_decy': 0.1,
            'optim_wrapper.loss_scal': 'dynamic',
            'optim_wrapper.clip_grad.max_nrom': 1,
            'optim_wrapper.paramwise_cfg': dict(bias_lr_mul=0.1)
        }, r'4 config problem',
        r"optim_wrapper\.optimizer\.weight_decy: AdamW takes no argument"
        r" 'weight_decy'; did you mean 'weight_decay'\?",
        r"optim_wrapper\.loss_scal: AmpOptimWrapper takes no argument "
        r"'loss_scal'; did you mean 'loss_scale'\?",
        r"optim_wrapper\.clip_grad\.max_nrom: clip_grad "
        r"\(clip_grad_norm_\) takes no argument 'max_nrom'",
        r"optim_wrapper\.paramwise_cfg\.bias_lr_mul: paramwise_cfg takes"
        r" no argument 'bias_lr_mul'; did you mean 'bias_lr_mult'")


def test_misspelt_key_of_a_constructor_with_its_own_paramwise_keys():
    # TSTL's layer-decay constructor reads `layer_decay_rate`, not MMEngine's
    # keys: the lint checks against the keys it declares
    tiny = REPO / 'configs' / 'tstl' / 'tstl_tiny_1xb4-6e_synthetic-videos.py'
    msg = assert_refused(
        tiny, {'optim_wrapper.paramwise_cfg.layer_decay_rat': 0.7},
        r"optim_wrapper\.paramwise_cfg\.layer_decay_rat: paramwise_cfg "
        r"takes no argument 'layer_decay_rat'; did you mean "
        r"'layer_decay_rate'\?")
    assert 'layer_decay_rate:' not in msg
    cfg = launch.load_config(str(tiny), None)
    launch.lint_config(cfg, str(tiny), None)  # its own keys pass


def test_misspelt_param_scheduler_argument():
    assert_refused(
        SMOKE, {'param_scheduler.1.milestone': [2]},
        r"param_scheduler\.1\.milestone: MultiStepLR takes no argument "
        r"'milestone'; did you mean 'milestones'\?")


def test_misspelt_metric_argument():
    assert_refused(
        NLQ, {'val_evaluator.ann_fle': 'x.json'},
        r"val_evaluator\.ann_fle: Ego4DNLQMetric takes no argument "
        r"'ann_fle'; did you mean 'ann_file'\?")


def test_misspelt_ema_hook_argument():
    # EMAHook's **kwargs build its EMA model: checked against that class
    assert_refused(
        NLQ, {'custom_hooks.0.momentun': 0.1},
        r"custom_hooks\.0\.momentun: EMAHook takes no argument "
        r"'momentun'; did you mean 'momentum'\?")


def test_misspelt_env_cfg_keys():
    assert_refused(
        SMOKE, {
            'env_cfg.mp_cfg.opencv_threads': 0,
            'env_cfg.dist_cfg.timout': 60
        }, r"env_cfg\.mp_cfg\.opencv_threads: .* did you mean "
        r"'opencv_num_threads'\?",
        r"env_cfg\.dist_cfg\.timout: .* did you mean 'timeout'\?")


def test_misspelt_randomness_key():
    assert_refused(
        SMOKE, {'randomness.sed': 1},
        r"randomness\.sed: randomness takes no argument 'sed'; did you "
        r"mean 'seed'\?")


def test_default_hook_without_type(tmp_path):
    config = write_config(tmp_path / 'hook.py', SMOKE,
                          'default_hooks = dict(profiler=dict(interval=1))')
    assert_refused(config, None,
             r'default_hooks\.profiler: has no `type`: the Runner replaces')


def test_unknown_hook_type():
    assert_refused(
        SMOKE, {'default_hooks.logger.type': 'LogerHook'},
        r"default_hooks\.logger\.type: unknown hook type 'LogerHook'; "
        r"did you mean 'LoggerHook'")


def test_train_loop_with_type_and_by_epoch():
    assert_refused(SMOKE, {'train_cfg.by_epoch': True},
             r'train_cfg\.by_epoch: give `type` or `by_epoch`, not both')


@pytest.fixture
def kwargs_transforms():
    """Two transforms with ``**kwargs``: one passing them to its parent
    class, one keeping them."""

    class ParentOfLintTransform:

        def __init__(self, scale: float = 1.0):
            self.scale = scale

    class LintTransformToParent(ParentOfLintTransform):

        def __init__(self, shift: float = 0.0, **kwargs):
            super().__init__(**kwargs)
            self.shift = shift

    class LintTransformKeepsKwargs:

        def __init__(self, **kwargs):
            self.options = kwargs

    for cls in (LintTransformToParent, LintTransformKeepsKwargs):
        TRANSFORMS.register_module(module=cls, force=True)
    yield
    for name in ('LintTransformToParent', 'LintTransformKeepsKwargs'):
        TRANSFORMS.module_dict.pop(name, None)
        MMENGINE_TRANSFORMS.module_dict.pop(name, None)


def test_misspelt_key_of_a_class_whose_kwargs_go_to_its_parent(
        tmp_path, kwargs_transforms):
    config = write_config(
        tmp_path / 'kw.py', SMOKE, "default_scope = 'vtg_plugins'\n"
        "pipe = [dict(type='LintTransformToParent', shift=1, scale=2),\n"
        "        dict(type='LintTransformToParent', scael=2),\n"
        "        dict(type='LintTransformKeepsKwargs', anything=1)]\n"
        "train_dataloader = dict(dataset=dict(pipeline=pipe))")
    msg = assert_refused(
        config, None, r'1 config problem',
        r"train_dataloader\.dataset\.pipeline\.1\.scael: "
        r"LintTransformToParent takes no argument 'scael'; did you mean "
        r"'scale'\?")
    assert 'pipeline.0' not in msg and 'anything' not in msg


def test_escape_hatch_skips_the_lint(smoke_config):
    options = {'default_hooks.checkpoint.intervl': 1}
    cfg = launch.load_config(str(smoke_config), options)
    with pytest.raises(ConfigLintError, match='intervl'):
        launch.lint_config(cfg, str(smoke_config), options)
    launch.lint_config(cfg, str(smoke_config), options, enabled=False)
