"""CrossTaskDataset: the release's file formats, MMPT's random split
(checked against an oracle that walks the official code path step by step
on numpy's global RNG), the sliding windows of the official aligner, the
[T, K] ground truth, step caption rows, and batching."""
import os
import random

import numpy as np
import pytest
import torch

from vtg_tempclr.datasets import CrossTaskDataset
from vtg_tempclr.datasets.crosstask import (read_step_annotation,
                                            sliding_windows, step_assignment)
from vtg_tempclr.datasets.crosstask_split import (read_task_info,
                                                  read_video_list)
from vtg_tempclr.models import TempCLRDataPreprocessor
from vtg_tempclr.testing_downstream import tiny_crosstask

TASKS_TEXT = ('16815\nJack Up a Car\nhttp://www.wikihow.com/Jack-Up-a-Car\n'
              '3\nremove wheel,jack car,put tire\n\n'
              '23521\nMake Bread\nhttp://www.wikihow.com/Make-Bread\n'
              '2\nadd salt,pour water into the pan\n\n')


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# --- file formats ---------------------------------------------------------
@pytest.mark.parametrize('trailing', ['\n\n', '\n', ''])
def test_task_info_blocks(tmp_path, trailing):
    write(tmp_path / 't.txt', TASKS_TEXT.rstrip('\n') + trailing)
    tasks = read_task_info(tmp_path / 't.txt')
    assert list(tasks) == ['16815', '23521']
    assert tasks['16815'].title == 'Jack Up a Car'
    assert tasks['16815'].url == 'http://www.wikihow.com/Jack-Up-a-Car'
    assert tasks['16815'].steps == ['remove wheel', 'jack car', 'put tire']
    assert tasks['23521'].steps == ['add salt', 'pour water into the pan']


def test_video_list_lines(tmp_path):
    write(tmp_path / 'v.csv', '16815,jk01,https://www.youtube.com/watch?v=jk01'
          '\n\n23521,-br_02,https://www.youtube.com/watch?v=-br_02\n')
    entries = read_video_list(tmp_path / 'v.csv')
    assert [(e.task, e.vid, e.line) for e in entries] == [
        ('16815', 'jk01', 1), ('23521', '-br_02', 3)]


def test_annotation_to_assignment_floor_ceil(tmp_path):
    write(tmp_path / 'a.csv',
          '2,3.4,5.2\n1,0.00,2.00\n3,7.5,9.0\n2,9.9,10.1\n1,10.5,12.5\n')
    spans = read_step_annotation(tmp_path / 'a.csv', 3)
    assert spans == [(1, 3.4, 5.2), (0, 0.0, 2.0), (2, 7.5, 9.0),
                     (1, 9.9, 10.1), (0, 10.5, 12.5)]
    y = step_assignment(spans, 11, 3, 'video')
    expected = np.zeros((11, 3), np.uint8)
    expected[[0, 1], 0] = 1  # [0, 2): rows 0, 1
    expected[[3, 4, 5], 1] = 1  # floor 3.4 .. ceil 5.2 = 6
    expected[[7, 8], 2] = 1  # floor 7.5 .. ceil 9.0 = 9
    expected[[9, 10], 1] = 1  # floor 9.9 .. ceil 10.1 = 11
    expected[10, 0] = 1  # ceil 12.5 = 13 is cut at T = 11
    np.testing.assert_array_equal(y, expected)


# --- the official split ---------------------------------------------------
PRIMARY = {'P3': 35, 'P1': 40, 'P2': 31, 'P4': 10}  # file order != csv order
RELATED = {'R1': 33}


def split_release(root):
    """A release where the split matters: primary tasks with more and fewer
    than 30 usable videos, videos without features or annotation, a task
    no task file has, val videos inside and outside ``videos.csv``, all
    lines interleaved."""
    def block(task):
        return f'{task}\nTitle {task}\nhttp://x/{task}\n2\nstir,mix egg\n\n'
    write(root / 'tasks_primary.txt', ''.join(block(t) for t in PRIMARY))
    write(root / 'tasks_related.txt', ''.join(block(t) for t in RELATED))
    lines = [(t, f'{t.lower()}v{i:02d}')
             for t, n in {**PRIMARY, **RELATED, 'U9': 4}.items()
             for i in range(n)]
    random.Random(1).shuffle(lines)
    val = [('P1', 'p1v03'), ('P1', 'p1v17'), ('P1', 'p1v30'), ('P3', 'p3v00'),
           ('R1', 'r1v05'), ('P2', 'p2x99')]
    no_feature = {'p1v08', 'p1v21', 'p2v04'}
    no_annotation = {('P1', 'p1v11')}
    (root / 'features').mkdir(parents=True)
    for task, vid in lines + val:
        if vid not in no_feature:
            np.save(root / 'features' / f'{vid}.npy', np.ones((3, 2)))
        if (task, vid) not in no_annotation:
            write(root / 'annotations' / f'{task}_{vid}.csv', '1,0.0,1.0\n')
    write(root / 'videos.csv',
          ''.join(f'{t},{v},https://y/{v}\n' for t, v in lines))
    write(root / 'videos_val.csv',
          ''.join(f'{t},{v},https://y/{v}\n' for t, v in val))


def oracle_split(root, split, n_train):
    """MMPT's CrossTaskMetaProcessor, step by step: seed the global RNG,
    read both lists keeping videos whose feature and annotation files
    exist, drop val videos, keep known tasks, draw per primary task in
    dict order."""
    np.random.seed(0)

    def get_vids(name):
        task_vids = {}
        with open(root / name) as f:
            for line in f:
                task, vid, _ = line.strip().split(',')
                if not os.path.exists(root / 'features' / f'{vid}.npy'):
                    continue
                if not os.path.exists(root / 'annotations' /
                                      f'{task}_{vid}.csv'):
                    continue
                task_vids.setdefault(task, []).append(vid)
        return task_vids

    def task_ids(name):
        ids = []
        with open(root / name) as f:
            line = f.readline()
            while line != '':
                ids.append(line.strip())
                for _ in range(5):
                    f.readline()
                line = f.readline()
        return ids

    task_vids = get_vids('videos.csv')
    val_vids = get_vids('videos_val.csv')
    task_vids = {
        t: [v for v in vids if t not in val_vids or v not in val_vids[t]]
        for t, vids in task_vids.items()
    }
    primary = set(task_ids('tasks_primary.txt'))
    known = primary | set(task_ids('tasks_related.txt'))
    task_vids = {t: vids for t, vids in task_vids.items() if t in known}
    train, test = {}, {}
    for task, vids in task_vids.items():
        if task in primary and len(vids) > n_train:
            train[task] = np.random.choice(vids, n_train,
                                           replace=False).tolist()
            test[task] = [v for v in vids if v not in train[task]]
        else:
            train[task] = vids
    chosen = train if split == 'train' else test
    return [(t, v) for t, vids in chosen.items() for v in vids]


def pairs(ds):
    return [(ds.get_data_info(i)['task'], ds.get_data_info(i)['vid'])
            for i in range(len(ds))]


@pytest.mark.parametrize('n_train', [30, 5])
def test_split_equals_the_official_code_path(tmp_path, tiny_vocab, n_train):
    split_release(tmp_path)
    np.random.seed(123)
    state = np.random.get_state()[1].copy()
    got = {
        split: pairs(
            CrossTaskDataset(tiny_vocab, split=split, data_root=str(tmp_path),
                             n_train=n_train, missing='skip'))
        for split in ('train', 'valid', 'test')
    }
    assert np.array_equal(np.random.get_state()[1], state)  # global RNG
    for split in ('train', 'test'):
        assert got[split] == oracle_split(tmp_path, split, n_train), split
    assert got['valid'] == got['test']
    train_p1 = [v for t, v in got['train'] if t == 'P1']
    assert len(train_p1) == n_train
    usable_p1 = sorted(v for v in (f'p1v{i:02d}' for i in range(40))
                       if v not in {'p1v03', 'p1v17', 'p1v30', 'p1v08',
                                    'p1v21', 'p1v11'})
    assert train_p1 != usable_p1[:n_train]  # a random draw, not a prefix
    test_tasks = {t for t, _ in got['test']}
    assert test_tasks == ({'P1', 'P3'} if n_train == 30 else
                          {'P1', 'P2', 'P3', 'P4'})
    assert 'U9' not in {t for t, _ in got['train']}


# --- items ----------------------------------------------------------------
LENGTHS = [1, 15, 16, 17, 32, 33, 48, 49, 64, 100]


def official_windows(num_frames, stride=16, size=32):
    """The window loop of MMPT's CrossTaskAligner / CrossTaskPredictor."""
    windows = []
    for start in range(0, num_frames, stride):
        length = min(num_frames - start, size)
        windows.append((start, length))
        if num_frames - start <= size:
            break
    return windows


@pytest.fixture
def window_release(tmp_path):
    """One primary task, one video per length in LENGTHS, all training."""
    write(tmp_path / 'tasks_primary.txt', TASKS_TEXT)
    write(tmp_path / 'tasks_related.txt', '')
    write(tmp_path / 'videos_val.csv', '')
    write(tmp_path / 'videos.csv',
          ''.join(f'16815,v{n:03d},u\n' for n in LENGTHS))
    (tmp_path / 'features').mkdir()
    rng = np.random.default_rng(0)
    feats = {}
    for n in LENGTHS:
        feats[n] = rng.standard_normal((n, 5)).astype(np.float32)
        np.save(tmp_path / 'features' / f'v{n:03d}.npy', feats[n])
        write(tmp_path / 'annotations' / f'16815_v{n:03d}.csv',
              f'3,0.0,{n / 2:.1f}\n1,{n / 2:.1f},{n:.1f}\n')
    return tmp_path, feats


def test_windows_match_the_official_loop(window_release, tiny_vocab):
    root, feats = window_release
    ds = CrossTaskDataset(tiny_vocab, split='train', data_root=str(root))
    assert len(ds) == len(LENGTHS)
    for i, n in enumerate(LENGTHS):
        item = ds[i]
        sample, vfeats = item['data_samples'], item['inputs']['vfeats']
        windows = official_windows(n)
        assert sample.window_starts.tolist() == [w[0] for w in windows]
        assert sample.window_lengths.tolist() == [w[1] for w in windows]
        assert sample.video_len == n
        assert sample.num_video_rows == len(windows) == len(vfeats)
        for w, (start, length) in enumerate(windows):
            np.testing.assert_array_equal(vfeats[w, :length].numpy(),
                                          feats[n][start:start + length])
            assert not vfeats[w, length:].any()
            assert item['inputs']['vmasks'][w].sum() == length
        assert sliding_windows(n, 16, 32) == windows


def test_targets_steps_and_caption_rows(window_release, tiny_vocab):
    root, _ = window_release
    ds = CrossTaskDataset(tiny_vocab, split='train', data_root=str(root))
    item = ds[LENGTHS.index(33)]
    sample = item['data_samples']
    expected = np.zeros((33, 3), np.uint8)
    expected[0:17, 2] = 1  # step 3 over [0, 16.5]
    expected[16:33, 0] = 1  # step 1 over [16.5, 33]
    np.testing.assert_array_equal(sample.gt_assignment.numpy(), expected)
    assert sample.targets.dtype == torch.float32
    assert torch.equal(sample.targets, torch.from_numpy(expected).float())
    assert sample.step_sequence.tolist() == [2, 0]  # annotation order
    assert (sample.task, sample.vid) == ('16815', 'v033')
    vocab = tiny_vocab.read_text().split()
    for k, step in enumerate(['remove wheel', 'jack car', 'put tire']):
        ids = [2, 3] + [vocab.index(w) for w in step.split()] + [3]
        assert item['inputs']['caps'][k].tolist() == ids + [0] * (64 -
                                                                  len(ids))
        assert item['inputs']['cmasks'][k].sum() == len(ids)
    assert sample.num_text_rows == 3


def test_items_batch_through_the_data_preprocessor(window_release,
                                                   tiny_vocab):
    root, _ = window_release
    ds = CrossTaskDataset(tiny_vocab, split='train', data_root=str(root))
    items = [ds[LENGTHS.index(n)] for n in (17, 100, 1)]
    out = TempCLRDataPreprocessor()(
        dict(inputs=[it['inputs'] for it in items],
             data_samples=[it['data_samples'] for it in items]))
    assert out['inputs']['vfeats'].shape == (1 + 6 + 1, 32, 5)
    assert out['inputs']['caps'].shape == (9, 64)
    assert [s.num_video_rows for s in out['data_samples']] == [1, 6, 1]
    assert torch.equal(out['inputs']['vfeats'][1:7], items[1]['inputs']
                       ['vfeats'])


def test_tiny_writer_release_loads(tmp_path, tiny_vocab):
    kwargs = tiny_crosstask(tmp_path, dim=4)
    train = CrossTaskDataset(tiny_vocab, split='train', **kwargs)
    test = CrossTaskDataset(tiny_vocab, split='test', **kwargs)
    assert len(train) == 2 + 2 + 2 and len(test) == 1 + 2
    assert 'jk03' not in {v for _, v in pairs(train) + pairs(test)}
    item = test[0]
    assert item['inputs']['vfeats'].shape[-1] == 4
    assert item['data_samples'].targets.shape == (
        item['data_samples'].video_len, 3)
