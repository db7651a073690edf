"""Zero-shot embeddings (``vtg_plugins.apis.dual_encoder``) of both dual
encoders from a config and a checkpoint: TempCLR (the tiny config, feature
files and arrays the test writes) and HD-VILA (a tiny model in a config
dict, tiny PyAV videos and frame folders). The embeddings equal what the
model's own ``predict`` gives on the test dataset's items, and similarity
follows the score each model declares."""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from vtg_hd_vila.datasets import hd_vila_pipeline
from vtg_hd_vila.datasets.collate import hd_vila_collate
from vtg_hd_vila.testing import make_retrieval_data
from vtg_plugins.apis import (build_zero_shot_embedder, encode_text,
                              encode_video, init_dual_encoder, similarity)
from vtg_plugins.evaluation.functional import similarity as metric_scores
from vtg_plugins.registry import DATASETS, MODELS
from vtg_plugins.testing import write_config
from vtg_tempclr.datasets.collate import tempclr_collate
from vtg_tempclr.testing_downstream import tiny_youcook2, write_vocab

TEMPCLR_TINY = (
    Path(__file__).resolve().parents[2] / 'configs' / 'tempclr' /
    'tempclr_tiny_1xb1-2e_synthetic-shards.py')
TEMPCLR_DIM = 32  # the tiny config's input_dim
TOL = dict(rtol=1e-5, atol=1e-6)


def _save_random_checkpoint(cfg: Config, path: Path, init=None) -> dict:
    """Build the config's model (seed 0, then ``init(model)``), save its
    weights as a training checkpoint and return them."""
    init_default_scope(cfg.get('default_scope', 'vtg_plugins'))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    if init is not None:
        with torch.no_grad():
            init(model)
    state = model.state_dict()
    torch.save(dict(state_dict=state, meta={}), path)
    return state


def _predicted(samples, key):
    return torch.stack([s.get(key) for s in samples])


def _assert_distinct(emb):
    """Rows far apart, so that equal embeddings mean the same inputs."""
    dist = torch.cdist(emb, emb) + torch.eye(len(emb))
    assert dist.min() > 1e-3


# --- TempCLR ---------------------------------------------------------------
@pytest.fixture(scope='module')
def tempclr(tmp_path_factory):
    """The tiny config on a tiny YouCook2 (32-d features), a checkpoint of
    random weights and the model :func:`init_dual_encoder` loads from
    them."""
    root = tmp_path_factory.mktemp('tempclr')
    vocab = write_vocab(root / 'vocab.txt')
    tiny_youcook2(root / 'youcook2', dim=TEMPCLR_DIM)
    cfg_path = write_config(
        root / 'tiny.py', TEMPCLR_TINY, f'test_dataloader = dict(dataset=dict('
        f'data_root={str(root / "youcook2")!r}, vocab_file={str(vocab)!r}))')
    state = _save_random_checkpoint(
        Config.fromfile(cfg_path), root / 'tempclr.pth')
    torch.manual_seed(1)  # init_dual_encoder draws other weights
    model = init_dual_encoder(str(cfg_path), root / 'tempclr.pth')
    dataset = DATASETS.build(model.cfg.test_dataloader.dataset)
    return dict(root=root, model=model, state=state, dataset=dataset)


def test_tempclr_loads_the_checkpoint_and_declares_dot_products(tempclr):
    model = tempclr['model']
    assert not model.training
    for name, value in model.state_dict().items():
        assert torch.equal(value, tempclr['state'][name]), name
    assert model.zero_shot_embedder.score == 'dot'


def test_tempclr_embeddings_are_the_retrieval_features_of_the_dataset(
        tempclr, recwarn):
    """Each YouCook2 clip's features (cut from its video's file) and its
    caption give the features ``predict`` sets on the dataset's items; the
    36-s clip is read for its first max_video_len=16 s with a warning."""
    model, dataset = tempclr['model'], tempclr['dataset']
    items = [dataset[i] for i in range(len(dataset))]
    samples = model.test_step(tempclr_collate(items))
    feats, captions = [], []
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        video = np.load(tempclr['root'] / 'youcook2' / 'features' /
                        f'{info["video_id"]}.npy')
        feats.append(video[info['start']:info['end']])
        captions.append(info['caption'])
    video_emb = encode_video(model, feats, batch_size=3)
    text_emb = encode_text(model, captions, batch_size=4)
    assert video_emb.shape == text_emb.shape == (len(dataset), 16)
    torch.testing.assert_close(video_emb, _predicted(samples, 'video_feature'),
                               **TOL)
    torch.testing.assert_close(text_emb, _predicted(samples, 'text_feature'),
                               **TOL)
    _assert_distinct(video_emb)
    _assert_distinct(text_emb)
    # the embedder also embeds the test dataloader's batches
    embedder = model.zero_shot_embedder
    torch.testing.assert_close(
        embedder.embed_videos(tempclr_collate(items)), video_emb, **TOL)
    torch.testing.assert_close(
        embedder.embed_texts(tempclr_collate(items)), text_emb, **TOL)
    long_clips = [i for i, f in enumerate(feats) if len(f) > 16]
    assert long_clips and any('max_video_len=16' in str(w.message)
                              for w in recwarn)


def test_tempclr_reads_feature_files_like_arrays(tempclr):
    model, root = tempclr['model'], tempclr['root']
    video = np.load(root / 'youcook2' / 'features' / 'bT3kQ0yUa8M.npy')
    np.save(root / 'clip.npy', video[3:12])
    torch.save(torch.from_numpy(video[:7]), root / 'clip.pt')
    from_files = encode_video(
        model, [root / 'clip.npy', str(root / 'clip.pt')])
    from_arrays = encode_video(
        model, [video[3:12], torch.from_numpy(video)[:7]])
    torch.testing.assert_close(from_files, from_arrays, **TOL)
    # a lone input is one video
    torch.testing.assert_close(
        encode_video(model, video[3:12]), from_arrays[:1], **TOL)


def test_tempclr_refuses_inputs_it_cannot_read(tempclr, tmp_path):
    model = tempclr['model']
    with pytest.raises(ValueError, match=r'S3D features.*\.npy'):
        encode_video(model, tmp_path / 'demo.mp4')
    with pytest.raises(FileNotFoundError, match='missing.npy'):
        encode_video(model, tmp_path / 'missing.npy')
    with pytest.raises(
            ValueError, match=r'video 1: features must be '
            r'\[T, 32\].*\[5, 8\]'):
        encode_video(model, [np.zeros((4, 32)), np.zeros((5, 8))])
    bad = np.zeros((4, 32), np.float32)
    bad[2, 0] = np.nan
    with pytest.raises(ValueError, match='video 0: features: NaN'):
        encode_video(model, [bad])
    with pytest.raises(ValueError, match='text 1 is empty'):
        encode_text(model, ['cut the onion', '  '])
    with pytest.raises(ValueError, match='no video given'):
        encode_video(model, [])


def test_a_model_built_elsewhere_embeds_through_its_config(tempclr):
    cfg = tempclr['model'].cfg
    model = MODELS.build(cfg.model)
    model.load_state_dict(tempclr['state'])
    model.cfg = cfg
    texts = ['cut the onion', 'mix the egg']
    torch.testing.assert_close(
        encode_text(model.eval(), texts), encode_text(tempclr['model'], texts))
    assert model.zero_shot_embedder is not tempclr['model'].zero_shot_embedder


def test_models_without_an_embedder_are_refused(tempclr):
    with pytest.raises(TypeError, match='Linear has no zero-shot embedder'):
        build_zero_shot_embedder(torch.nn.Linear(2, 2), tempclr['model'].cfg)
    with pytest.raises(ValueError, match='init_dual_encoder'):
        encode_text(torch.nn.Linear(2, 2), 'a man')


def test_similarity_follows_the_declared_score(tempclr, hd_vila):
    """Text 0 matches video 0 in direction; video 1 is longer but off
    direction: the dot product ranks video 1 first, the cosine video 0."""
    text = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    video = torch.tensor([[1.0, 0.2], [4.0, 4.0], [0.1, 1.0]])
    dot = similarity(text, video, tempclr['model'])
    cosine = similarity(text, video, hd_vila['model'])
    assert dot.dtype == torch.float64 and dot.shape == (2, 3)
    assert dot[0].argmax() == 1 and cosine[0].argmax() == 0
    assert cosine[1].argmax() == 2
    torch.testing.assert_close(dot, similarity(text, video, 'dot'))
    np.testing.assert_allclose(
        cosine.numpy(),
        metric_scores(text.numpy(), video.numpy(), normalize=True))
    np.testing.assert_allclose(dot.numpy(), (text @ video.T).numpy())
    with pytest.raises(ValueError, match="score must be one of"):
        similarity(text, video, 'l2')
    with pytest.raises(ValueError, match=r'\[2, 2\] and \[3\]'):
        similarity(text, video[:, 0], 'dot')


# --- HD-VILA ---------------------------------------------------------------
TINY_BERT = dict(
    vocab_size=64,
    hidden_size=16,
    num_hidden_layers=4,
    num_attention_heads=2,
    intermediate_size=32,
    max_position_embeddings=64,
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
    attn_implementation='eager')
TINY_ENCODER = dict(
    type='HDVILAVideoEncoder',
    hidden_size=16,
    resnet_depth=18,
    timesformer_depth=1,
    timesformer_heads=2,
    num_frames=3,
    grid_size=(1, 1),
    fused_attn=False)


def hd_vila_config(data, source: str) -> Config:
    """A retrieval config: the tiny model, the test dataset of ``data``
    (16x16 low-resolution frames, 64x64 keyframes, 2 clips of 3)."""
    pipeline = hd_vila_pipeline(
        source,
        train=False,
        n_clips=2,
        num_frm=3,
        sample_rate=2,
        crop_size=(16, 16),
        resize_size=(18, 28))
    return Config(
        dict(
            custom_imports=dict(
                imports=['vtg_plugins', 'vtg_hd_vila'],
                allow_failed_imports=False),
            default_scope='vtg_plugins',
            model=dict(
                type='HDVILARetrieval',
                video_encoder=TINY_ENCODER,
                bert_config=TINY_BERT),
            test_dataloader=dict(
                batch_size=3,
                collate_fn=dict(
                    type='vtg_hd_vila.datasets.collate.hd_vila_collate'),
                dataset=dict(
                    type='HDVILAVideoRetrievalDataset',
                    ann_file=data.ann_file,
                    vocab_file=data.vocab_file,
                    max_txt_len=12,
                    vis_format=source,
                    data_prefix=data.data_prefix,
                    pipeline=pipeline,
                    test_mode=True))))


def _spread_weights(model) -> None:
    """Scores of different inputs far apart (BERT's 0.02 init makes them
    close), and low-resolution frames that count (their TimeSformer
    ``temporal_fc`` starts at zero)."""
    for name, p in model.named_parameters():
        if name.startswith('transformer.'):
            torch.nn.init.normal_(p, std=0.5)
        elif 'temporal_fc' in name:
            torch.nn.init.normal_(p, std=0.5)


@pytest.fixture(scope='module')
def hd_vila(tmp_path_factory):
    root = tmp_path_factory.mktemp('hd_vila')
    data = make_retrieval_data(root / 'msrvtt', 'video', 3, num_frames=12)
    cfg = hd_vila_config(data, 'video')
    state = _save_random_checkpoint(cfg, root / 'hd_vila.pth', _spread_weights)
    torch.manual_seed(1)
    model = init_dual_encoder(cfg, root / 'hd_vila.pth')
    return dict(root=root, data=data, model=model, state=state)


def _dataset_features(model):
    """``predict``'s features of every item of the config's test dataset
    (one batch, the config's collate)."""
    dataset = DATASETS.build(model.cfg.test_dataloader.dataset)
    batch = hd_vila_collate([dataset[i] for i in range(len(dataset))])
    samples = model.test_step(batch)
    videos, texts = (_predicted(samples, 'video_feature'),
                     _predicted(samples, 'text_feature'))
    # the embedder also embeds the test dataloader's batches
    with torch.no_grad():
        torch.testing.assert_close(
            model.zero_shot_embedder.embed_videos(batch), videos, **TOL)
        torch.testing.assert_close(
            model.zero_shot_embedder.embed_texts(batch), texts, **TOL)
    return videos, texts


def test_hd_vila_embeddings_are_the_retrieval_features_of_the_dataset(hd_vila):
    """Each video file and caption give the features ``predict`` sets on
    the test dataset's items (its test pipeline, its collate, the
    model)."""
    model, data = hd_vila['model'], hd_vila['data']
    for name, value in model.state_dict().items():
        assert torch.equal(value, hd_vila['state'][name]), name
    assert model.zero_shot_embedder.score == 'cosine'
    videos, texts = _dataset_features(model)
    paths = [
        Path(data.data_prefix['video']) / f'{r["clip_id"]}.mp4'
        for r in data.records
    ]
    video_emb = encode_video(model, paths, batch_size=2)
    text_emb = encode_text(
        model, [r['text'] for r in data.records], batch_size=2)
    torch.testing.assert_close(video_emb, videos, **TOL)
    torch.testing.assert_close(text_emb, texts, **TOL)
    _assert_distinct(video_emb)
    _assert_distinct(text_emb)
    torch.testing.assert_close(
        video_emb.norm(dim=1), torch.ones(3), rtol=0, atol=1e-6)
    with pytest.raises(FileNotFoundError, match='nothing.mp4'):
        encode_video(model, hd_vila['root'] / 'nothing.mp4')


def test_hd_vila_frame_folders_are_given_as_data_infos(hd_vila, tmp_path):
    data = make_retrieval_data(
        tmp_path, 'frame', 2, num_frames=12, size=(72, 112))
    cfg = hd_vila_config(data, 'frame')
    model = init_dual_encoder(cfg, hd_vila['root'] / 'hd_vila.pth')
    infos = [
        dict(
            clip_id=r['clip_id'],
            total_frames=r['num_frame'],
            frame_dir=data.data_prefix['frames'],
            lr_frame_dir=data.data_prefix['lr_frames']) for r in data.records
    ]
    videos, _ = _dataset_features(model)
    torch.testing.assert_close(encode_video(model, infos), videos, **TOL)
    with pytest.raises(ValueError, match='reads frame folders'):
        encode_video(model, tmp_path / 'a.mp4')
