"""TempCLR batches keep each item's rows and samples together (through
``tempclr_collate`` or ``pseudo_collate``), and the few-shot frame encoder
loads a converted dual-encoder checkpoint strictly when built."""
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.runner import save_checkpoint
from mmengine.structures import BaseDataElement

from vtg_tempclr.datasets.collate import tempclr_collate
from vtg_tempclr.models import TempCLRDataPreprocessor, TempCLRDualEncoder
from vtg_tempclr.models.few_shot import TempCLRVideoTokenEncoder


def _item(rows: int, tag: int, per_video: bool) -> dict:
    """An item of ``rows`` video and caption rows whose values are ``tag``;
    its samples are one per row (a HowTo100M group) or one for all."""
    inputs = dict(
        vfeats=torch.full((rows, 3, 2), float(tag)),
        vmasks=torch.ones(rows, 3, dtype=torch.bool),
        caps=torch.full((rows, 4), tag, dtype=torch.long),
        cmasks=torch.ones(rows, 4, dtype=torch.bool))
    if per_video:
        samples = [BaseDataElement(tag=tag, num_video_rows=1,
                                   num_text_rows=1) for _ in range(rows)]
    else:
        samples = BaseDataElement(tag=tag, num_video_rows=rows,
                                  num_text_rows=rows)
    return dict(inputs=inputs, data_samples=samples)


def test_groups_of_different_sizes_stay_in_order():
    items = [_item(2, 1, True), _item(3, 2, True)]
    batch = TempCLRDataPreprocessor()(tempclr_collate(items))
    assert batch['inputs']['caps'][:, 0].tolist() == [1, 1, 2, 2, 2]
    assert batch['inputs']['vfeats'].dtype == torch.float32
    assert [s.tag for s in batch['data_samples']] == [1, 1, 2, 2, 2]


def test_pseudo_collate_of_single_sample_items_gives_the_same_batch():
    items = [_item(1, 5, False), _item(2, 6, False)]
    ours = TempCLRDataPreprocessor()(tempclr_collate(items))
    theirs = TempCLRDataPreprocessor()(pseudo_collate(items))
    for key, value in ours['inputs'].items():
        assert torch.equal(value, theirs['inputs'][key]), key
    assert [s.tag for s in theirs['data_samples']] == [5, 6]


def test_rows_that_samples_do_not_account_for_are_refused():
    item = _item(2, 1, False)
    item['data_samples'].num_video_rows = 3
    with pytest.raises(ValueError, match='claim 3 vfeats rows'):
        TempCLRDataPreprocessor()(tempclr_collate([item]))


def test_an_item_that_is_not_packed_is_named():
    with pytest.raises(TypeError, match='item 1 of the batch is list'):
        tempclr_collate([_item(1, 0, False), [1, 2]])


def _encoder_cfg(tiny_bert_config):
    return dict(type='TempCLRDualEncoder', bert_config=tiny_bert_config,
                video_layers=1, input_dim=4, max_video_len=8,
                cls_token_id=2, sep_token_id=3)


def test_frame_encoder_loads_its_checkpoint(tmp_path, tiny_bert_config):
    torch.manual_seed(1)
    cfg = _encoder_cfg(tiny_bert_config)
    trained = TempCLRDualEncoder(**{k: v for k, v in cfg.items()
                                    if k != 'type'})
    path = tmp_path / 'converted.pth'
    save_checkpoint(dict(state_dict=trained.state_dict()), str(path))
    torch.manual_seed(2)
    loaded = TempCLRVideoTokenEncoder(cfg, checkpoint=str(path))
    fresh = TempCLRVideoTokenEncoder(cfg)
    vfeats = torch.randn(2, 8, 4)
    masks = torch.ones(2, 8, dtype=torch.bool)
    with torch.no_grad():
        want = trained.eval().video_token_states(vfeats, masks)
        assert torch.allclose(loaded.eval()(vfeats, masks), want)
        assert not torch.allclose(fresh.eval()(vfeats, masks), want)


def test_frame_encoder_refuses_a_checkpoint_that_does_not_fit(
        tmp_path, tiny_bert_config):
    path = tmp_path / 'other.pth'
    save_checkpoint(dict(state_dict={'head.weight': torch.zeros(1)}),
                    str(path))
    with pytest.raises(ValueError, match='other.pth'):
        TempCLRVideoTokenEncoder(_encoder_cfg(tiny_bert_config),
                                 checkpoint=str(path))
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        TempCLRVideoTokenEncoder(_encoder_cfg(tiny_bert_config),
                                 checkpoint=str(tmp_path / 'missing.pth'))
