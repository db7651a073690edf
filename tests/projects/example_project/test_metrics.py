"""The example metric on hand-computed IoUs."""
import pytest
import torch
from mmengine.structures import BaseDataElement

from vtg_example_project.evaluation import ExampleMomentMetric


def _sample(qid, pred, gt):
    sample = BaseDataElement(metainfo=dict(qid=qid))
    sample.pred_relevant_windows = torch.as_tensor(pred)
    sample.gt_windows = torch.as_tensor(gt)
    return sample


def test_recall_and_mean_iou():
    metric = ExampleMomentMetric(thresholds=(0.5, 0.7))
    metric.process(
        {},
        [
            _sample('a', [[0.0, 10.0, 0.9]], [[5.0, 10.0]]),  # IoU 0.5
            _sample('b', [[2.0, 4.0, 0.8], [0.0, 1.0, 0.1]],
                    [[20.0, 30.0], [2.0, 4.0]]),  # best GT: IoU 1
            _sample('c', [[0.0, 1.0, 0.5]], [[5.0, 6.0]]),  # IoU 0
        ])
    result = metric.compute_metrics(metric.results)
    assert result == pytest.approx({
        'R1@0.5': 100 * 2 / 3,
        'R1@0.7': 100 / 3,
        'mIoU': 100 * 1.5 / 3
    })


def test_only_the_top_window_is_scored():
    metric = ExampleMomentMetric()
    metric.process(
        {}, [_sample('a', [[0.0, 1.0, 0.9], [5.0, 6.0, 0.1]], [[5.0, 6.0]])])
    assert metric.compute_metrics(metric.results)['mIoU'] == 0.0


def test_samples_repeated_by_a_distributed_sampler_count_once():
    metric = ExampleMomentMetric()
    hit = _sample('a', [[0.0, 2.0, 0.9]], [[0.0, 2.0]])
    miss = _sample('b', [[0.0, 2.0, 0.9]], [[4.0, 6.0]])
    metric.process({}, [hit, miss, hit])
    assert metric.compute_metrics(metric.results)['mIoU'] == 50.0


def test_a_sample_without_ground_truth_is_named():
    metric = ExampleMomentMetric()
    with pytest.raises(ValueError, match="qid 'z'"):
        metric.process({},
                       [_sample('z', [[0.0, 1.0, 0.5]], torch.zeros(0, 2))])
