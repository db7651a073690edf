"""HD-VILA QA datasets: TGIF FrameQA / MSRVTT-QA (answer vocabulary, an
out-of-vocabulary GT answer kept as label -1), TGIF Action / Transition and
MSRVTT-MC (5 options, ``question + ' ' + option`` for TGIF)."""
import pytest
import torch
from mmengine.registry import init_default_scope
from transformers import BertTokenizer

import vtg_hd_vila  # noqa: F401
from vtg_hd_vila.datasets import hd_vila_pipeline
from vtg_hd_vila.datasets.collate import hd_vila_collate
from vtg_hd_vila.testing import make_mc_data, make_qa_data
from vtg_plugins.evaluation import OpenEndedQAMetric
from vtg_plugins.registry import DATASETS


@pytest.fixture(autouse=True)
def scope():
    init_default_scope('vtg_plugins')


def official_ids(vocab_file, text, max_len):
    row = BertTokenizer(vocab_file).encode(
        text, max_length=max_len, truncation=True)
    return row + [0] * (max_len - len(row))


def qa_dataset(data, task, pipeline=(), **kwargs):
    return DATASETS.build(
        dict(
            type='HDVILAVideoQADataset',
            ann_file=data.ann_file,
            ans2label_file=data.ans2label_file,
            vocab_file=data.vocab_file,
            max_txt_len=30,
            task=task,
            data_prefix=data.data_prefix,
            pipeline=list(pipeline),
            **kwargs))


@pytest.mark.parametrize('task, key', [('frameqa', 'gif_name'),
                                       ('msrvtt_qa', 'video_id')])
def test_open_ended_qa_items(tmp_path, task, key):
    data = make_qa_data(tmp_path, task)
    ds = qa_dataset(data, task, hd_vila_pipeline('gif', True, 1, max_size=24),
                    train_oov='ignore')
    # the vocabulary: sorted answers of the first three questions
    assert ds.ans2label == {'guitar': 0, 'red': 1, 'two': 2}
    assert ds.num_answers == 3
    labels = []
    for i, rec in enumerate(data.records):
        item = ds[i]
        s = item['data_samples']
        assert s.question_id == i
        assert s.video_id == rec[key]
        assert s.filename.endswith(f'videos_mp4/{rec[key]}.mp4')
        assert (s.answer, s.answer_type) == (rec['answer'], rec['answer_type'])
        assert s.text_ids.tolist() == official_ids(data.vocab_file,
                                                   rec['question'], 30)
        assert item['inputs']['keyframes'].shape == (1, 3, 96, 96)
        assert item['inputs']['frames'].shape == (1, 6, 3, 24, 24)
        labels.append(s.answer_label)
    assert labels == [0, 1, 2, -1]  # 'zebra' is outside the vocabulary


def test_out_of_vocabulary_answer_counts_as_wrong(tmp_path):
    data = make_qa_data(tmp_path, 'frameqa')
    ds = qa_dataset(data, 'frameqa', test_mode=True)
    metric = OpenEndedQAMetric(ans2label=data.ans2label_file, task='frameqa')
    samples = []
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        # a perfect model: the GT label, or any label when there is none
        pred = info['answer_label'] if info['answer_label'] >= 0 else 0
        samples.append(
            dict(
                question_id=info['question_id'],
                answer=info['answer'],
                answer_type=info['answer_type'],
                pred_label=pred))
    metric.process({}, samples)
    out = metric.compute_metrics(metric.results)
    assert out['overall_acc'] == pytest.approx(3 / 4)


def mc_dataset(data, kind, pipeline=()):
    cfg = dict(
        ann_file=data.ann_file,
        vocab_file=data.vocab_file,
        max_txt_len=30,
        data_prefix=data.data_prefix,
        pipeline=list(pipeline))
    if kind == 'tgif':
        cfg.update(type='HDVILATGIFMultipleChoiceDataset', task='action')
    else:
        cfg.update(type='HDVILAMSRVTTMCDataset')
    return DATASETS.build(cfg)


def test_tgif_multiple_choice_items(tmp_path):
    data = make_mc_data(tmp_path, 'tgif')
    ds = mc_dataset(data, 'tgif',
                    hd_vila_pipeline('gif', False, 2, max_size=24))
    for i, rec in enumerate(data.records):
        s = ds[i]['data_samples']
        assert (s.question_id, s.gt_label) == (i, rec['answer'])
        assert s.option_ids.shape == s.option_mask.shape == (5, 30)
        for row, option in zip(s.option_ids.tolist(), rec['options']):
            assert row == official_ids(data.vocab_file,
                                       rec['question'] + ' ' + option, 30)


def test_msrvtt_multiple_choice_items_and_collate(tmp_path):
    data = make_mc_data(tmp_path, 'msrvtt')
    ds = mc_dataset(
        data, 'msrvtt',
        hd_vila_pipeline(
            'video', False, 2, resize_size=(18, 28), crop_size=(16, 24)))
    items = [ds[0], ds[1]]
    for item, rec in zip(items, data.records):
        s = item['data_samples']
        assert (s.question_id, s.gt_label) == (rec['qid'], rec['answer'])
        assert s.video_id == rec['clip_name']
        assert s.option_ids.tolist() == [
            official_ids(data.vocab_file, o, 30) for o in rec['options']
        ]
    longest = max(
        int(it['data_samples'].option_mask.sum(-1).max()) for it in items)
    batch = hd_vila_collate(items)
    for s in batch['data_samples']:
        assert s.option_ids.shape == (5, longest)
        assert s.option_ids.dtype == torch.long
    assert batch['inputs']['keyframes'].shape == (2, 2, 3, 64, 96)
