"""The example config trains through MMEngine's Runner and learns."""
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from vtg_plugins.registry import DATASETS, METRICS, MODELS
from vtg_plugins.utils import launch

CONFIG = ('configs/example_project/'
          'example_project_mlp_1xb4-6e_example-moments.py')


def _evaluate(model, cfg) -> dict:
    """The val metrics of ``model`` on the config's val split."""
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        dataset = DATASETS.build(cfg.val_dataloader.dataset)
        metric = METRICS.build(cfg.val_evaluator)
    batch = pseudo_collate([dataset[i] for i in range(len(dataset))])
    model.eval()
    with torch.no_grad():
        metric.process(batch, model.val_step(batch))
    return metric.compute_metrics(metric.results)


def test_config_names_its_code_and_follows_the_naming(repo):
    cfg = launch.load_config(str(repo / CONFIG), None)
    assert cfg.custom_imports == dict(
        imports=['vtg_plugins', 'vtg_example_project'],
        allow_failed_imports=False)
    assert cfg.default_scope == 'vtg_plugins'
    name = CONFIG.rsplit('/', 1)[1]
    gpus_batch, epochs = name.split('_')[3].split('-')
    assert gpus_batch == f'1xb{cfg.train_dataloader.batch_size}'
    assert epochs == f'{cfg.train_cfg.max_epochs}e'


def test_training_beats_the_untrained_model(tmp_path, repo):
    cfg = launch.load_config(str(repo / CONFIG), None)
    cfg.work_dir = str(tmp_path)
    torch.manual_seed(0)
    before = _evaluate(MODELS.build(cfg.model), cfg)
    runner = Runner.from_cfg(cfg)
    runner.train()
    after = _evaluate(runner.model, cfg)
    assert set(after) == {'R1@0.5', 'R1@0.7', 'mIoU'}
    assert after['mIoU'] > 80 and after['mIoU'] > before['mIoU'] + 30
    epochs = cfg.train_cfg.max_epochs
    assert (tmp_path / f'epoch_{epochs}.pth').exists()
    assert list(tmp_path.glob('best_example_mIoU_epoch_*.pth'))
