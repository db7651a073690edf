"""vtg_plugins.compat.mmaction, each fix exercised on the real mmaction2 code
path that fails without it."""
import numpy as np
import pytest

import vtg_plugins  # noqa: F401  (installs the fixes)


def test_mmaction_models_import_and_drn_placeholder_raises():
    import mmaction.models  # noqa: F401  (fails without the placeholder)
    from mmaction.models.localizers import DRN
    with pytest.raises(NotImplementedError, match='drn'):
        DRN()


def test_transformers_helpers_reexported_for_mmaction_multimodal():
    # vindlu's modeling_bert imports these from transformers.modeling_utils
    from mmaction.models.multimodal.vindlu import modeling_bert
    assert callable(modeling_bert.apply_chunking_to_forward)
    assert callable(modeling_bert.prune_linear_layer)


def test_numpy_aliases_used_by_mmaction_metrics():
    from mmaction.evaluation.functional import average_recall_at_avg_proposals
    from mmaction.evaluation.metrics.multimodal_metric import RetrievalRecall
    recall = RetrievalRecall.calculate(
        np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.15]]),
        [[1], [2]],
        topk=(1, 2),
        target_indices=True)
    assert [float(r) for r in recall] == [50.0, 100.0]
    # np.in1d flattens, as numpy < 2.4 did
    assert np.in1d(np.array([[1, 5], [3, 7]]), [3, 5]).tolist() == [
        False, True, True, False]
    gt = {'v': np.array([[0.0, 10.0]])}
    proposals = {'v': np.array([[0.0, 10.0, 0.9], [50.0, 60.0, 0.1]])}
    *_, auc = average_recall_at_avg_proposals(
        gt, proposals, 2, max_avg_proposals=2,
        temporal_iou_thresholds=np.array([0.5]))
    assert 0 < auc <= 100
