import json
import pickle

import lmdb
import numpy as np
import pytest

from vtg_plugins.datasets import (BACKENDS, DirectoryStore, LMDBStore,
                                  PackedStore, build_feature_store)
from vtg_plugins.datasets.feature_stores import DirectoryWriter, PackedWriter
from vtg_plugins.features import check_recipe
from vtg_plugins.testing import ref_path

RECIPE = dict(backbone='ViT-B/32', weights_hash='abc', layers=[9, 10, 11, 12],
              fps=0.5, clip_len=2.0, crop=224, dtype='float16')


def _items(dtype=np.float16):
    rng = np.random.default_rng(0)
    return {
        'v0': rng.standard_normal((5, 8)).astype(dtype),  # [T, D]
        'v1': rng.standard_normal((3, 2, 8)).astype(dtype),  # [K, T, D]
        'v2': rng.standard_normal((7, 2, 3, 8)).astype(dtype),  # [T,k,P,C]
    }


def _write(backend, root, items, **kw):
    with BACKENDS[backend][1](root, meta=RECIPE, **kw) as w:
        for k, v in items.items():
            w.add(k, v)
    return BACKENDS[backend][0](root)


@pytest.mark.parametrize('backend', sorted(BACKENDS))
@pytest.mark.parametrize('dtype', [np.float16, np.float32])
def test_roundtrip_and_missing_key(tmp_path, backend, dtype):
    items = _items(dtype)
    store = _write(backend, tmp_path / 's', items)
    assert sorted(store.keys()) == sorted(items) and len(store) == 3
    assert 'v1' in store and 'nope' not in store
    for k, v in items.items():
        got = store[k]
        assert got.dtype == dtype and got.shape == v.shape
        np.testing.assert_array_equal(got, v)
        got[...] = 0  # a private, writable copy
        np.testing.assert_array_equal(store[k], v)
    assert store.meta == RECIPE
    with pytest.raises(KeyError) as e:
        store['nope']
    assert str(tmp_path / 's') in str(e.value) and "'nope'" in str(e.value)
    # stores survive pickling into DataLoader workers
    clone = pickle.loads(pickle.dumps(store))
    np.testing.assert_array_equal(clone['v2'], items['v2'])


@pytest.mark.parametrize('backend', sorted(BACKENDS))
def test_build_from_config(tmp_path, backend):
    _write(backend, tmp_path / 's', _items())
    store = build_feature_store(
        dict(type=BACKENDS[backend][0].__name__, root=str(tmp_path / 's')))
    assert isinstance(store, BACKENDS[backend][0]) and len(store) == 3


def test_check_recipe():
    check_recipe(RECIPE, dict(layers=(9, 10, 11, 12), fps=0.5 + 1e-9))
    check_recipe(RECIPE, None)
    with pytest.raises(ValueError) as e:
        check_recipe(RECIPE, dict(layers=[8, 9, 10, 11], crop=224, dtype=1),
                     store_name='video store X')
    msg = str(e.value)
    assert 'video store X' in msg
    assert 'layers: store has [9, 10, 11, 12], expected [8, 9, 10, 11]' in msg
    assert 'crop' not in msg.split('\n')[0]  # equal fields are not listed
    assert '"weights_hash": "abc"' in msg and '"dtype": 1' in msg
    with pytest.raises(ValueError, match='resize: store has <absent>'):
        check_recipe({}, dict(resize=256))


def test_packed_many_shards_resume_and_views(tmp_path):
    rng = np.random.default_rng(1)
    items = {f'k{i}': rng.standard_normal((i + 1, 4)).astype(np.float32)
             for i in range(10)}
    root = tmp_path / 'p'
    # ~40 B per row: 96 B shards hold a few items each
    with pytest.raises(RuntimeError):
        with PackedWriter(root, shard_size_mb=96 / 2**20) as w:
            for i, (k, v) in enumerate(items.items()):
                if i == 6:
                    raise RuntimeError('interrupted')
                w.add(k, v)
    assert not root.exists() and (tmp_path / 'p.partial').exists()
    w = PackedWriter(root, shard_size_mb=96 / 2**20)
    # flushed shards survive; the unflushed buffer is written again
    assert w.done_keys and w.done_keys <= set(list(items)[:6])
    for k, v in items.items():
        if k not in w.done_keys:
            w.add(k, v)
    w.commit()
    store = PackedStore(root)
    assert store.keys() == list(items)
    assert len(list(root.glob('features_*_data.npy'))) > 2
    for k, v in items.items():
        np.testing.assert_array_equal(store[k], v)
    view = PackedStore(root, copy=False)['k3']
    assert not view.flags.writeable
    with pytest.raises(ValueError, match='does not match the store'):
        with PackedWriter(tmp_path / 'q') as w:
            w.add('a', np.zeros((2, 4), np.float32))
            w.add('b', np.zeros((2, 5), np.float32))
    with pytest.raises(FileExistsError, match='overwrite'):
        PackedWriter(root)


def test_reads_tempclr_sharded_example():
    root = ref_path('tempclr', 'sharded_example').parent / 'sharded_example'
    layout = json.loads((root / 'layout.json').read_text())
    store = PackedStore(root)
    data = np.load(root / 'train_0_data.npy')
    assert store.keys() == ['0', '1', '2']
    for i, shape in enumerate(layout['item_shapes']):
        s, e = layout['starts'][i], layout['starts'][i + 1]
        assert list(store[str(i)].shape) == shape
        np.testing.assert_array_equal(store[str(i)], data[s:e])


def test_official_r2tuning_cache_without_meta(tmp_path):
    root = tmp_path / 'clip_b32_vid_k4'
    root.mkdir()
    feat = np.ones((3, 4, 2, 6), np.float16)
    np.save(root / 'vidA_0.0_6.0.npy', feat)
    np.savez(root / 'vidB.npz', features=feat[:1], other=feat)
    store = DirectoryStore(root)
    assert store.meta == {} and store.keys() == ['vidA_0.0_6.0', 'vidB']
    assert store['vidB'].shape == (1, 4, 2, 6)
    with pytest.raises(ValueError, match='weights_hash: store has <absent>'):
        check_recipe(store.meta, RECIPE, store_name=str(root))


def test_groundnlq_lmdb_layout(tmp_path):
    """Values as GroundNLQ writes them: savez_compressed bytes."""
    import io
    env = lmdb.open(str(tmp_path / 'txt'), map_size=1 << 24)
    with env.begin(write=True) as txn:
        buf = io.BytesIO()
        np.savez_compressed(buf, token_features=np.ones((4, 3), np.float32),
                            features=np.zeros(3, np.float32))
        txn.put(b'q_0', buf.getvalue())
        buf = io.BytesIO()
        np.savez_compressed(buf, features=np.arange(3, dtype=np.float32))
        txn.put(b'q_1', buf.getvalue())
    env.close()
    store = LMDBStore(tmp_path / 'txt')
    assert store.keys() == ['q_0', 'q_1'] and store.meta == {}
    assert store['q_0'].shape == (4, 3)  # token_features first
    np.testing.assert_array_equal(store['q_1'], [[0., 1., 2.]])  # 1-D -> 1xD


def test_corrupt_stores_name_the_file(tmp_path):
    items = _items()
    d = _write('dir', tmp_path / 'd', items)
    path = tmp_path / 'd' / 'v2.npy'
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match=f'corrupt feature file {path}'):
        d['v2']

    _write('packed', tmp_path / 'p', items)
    shard = tmp_path / 'p' / 'features_0_data.npy'
    shard.write_bytes(shard.read_bytes()[:-64])
    with pytest.raises(ValueError, match=f'corrupt packed shard file {shard}'):
        PackedStore(tmp_path / 'p')['v0']
    index = tmp_path / 'p' / 'features_index.json'
    index.write_text('{"keys": [')
    with pytest.raises(ValueError, match=f'corrupt packed index {index}'):
        PackedStore(tmp_path / 'p')

    _write('lmdb', tmp_path / 'l', items)
    env = lmdb.open(str(tmp_path / 'l'))
    with env.begin(write=True) as txn:
        txn.put(b'v1', b'garbage')
    env.close()
    with pytest.raises(ValueError, match="corrupt LMDB value 'v1' in .*l"):
        LMDBStore(tmp_path / 'l')['v1']
    (tmp_path / 'l' / 'data.mdb').unlink()
    with pytest.raises(FileNotFoundError, match='has no data.mdb'):
        LMDBStore(tmp_path / 'l')

    (tmp_path / 'd' / 'meta.json').write_text('{oops')
    with pytest.raises(ValueError, match='corrupt feature-store metadata'):
        DirectoryStore(tmp_path / 'd')
    with pytest.raises(FileNotFoundError, match='missing_store'):
        PackedStore(tmp_path / 'missing_store')


def test_backends_are_read_from_the_registry(tmp_path):
    """Each registered reader declares its backend name and writer; a reader
    a plugin registers appears in BACKENDS, and two readers may not claim
    one name."""
    from vtg_plugins.datasets.feature_stores import FEATURE_STORES
    assert {name: (r.__name__, w.__name__)
            for name, (r, w) in BACKENDS.items()} == {
                'dir': ('DirectoryStore', 'DirectoryWriter'),
                'lmdb': ('LMDBStore', 'LMDBWriter'),
                'packed': ('PackedStore', 'PackedWriter')}
    with pytest.raises(KeyError, match=r"'nope'; known: \['dir', 'lmdb'"):
        BACKENDS['nope']

    class NpyOnlyStore(DirectoryStore):
        backend = 'npy_only'

    class ClashingStore(DirectoryStore):
        backend = 'dir'

    FEATURE_STORES.register_module(module=NpyOnlyStore)
    try:
        assert BACKENDS['npy_only'] == (NpyOnlyStore, DirectoryWriter)
        assert 'npy_only' in sorted(BACKENDS) and len(BACKENDS) == 4
        FEATURE_STORES.register_module(module=ClashingStore)
        with pytest.raises(ValueError, match="'dir' is declared by both "
                           'DirectoryStore and ClashingStore'):
            BACKENDS['dir']
    finally:
        FEATURE_STORES._module_dict.pop('NpyOnlyStore', None)
        FEATURE_STORES._module_dict.pop('ClashingStore', None)
    assert sorted(BACKENDS) == ['dir', 'lmdb', 'packed']


def test_foreign_byte_order_is_read_as_native(tmp_path):
    """A big-endian ``.npy`` (torch refuses those) comes back native, with
    the same values."""
    root = tmp_path / 'be'
    root.mkdir()
    feat = np.arange(12, dtype='>f4').reshape(3, 4)
    np.save(root / 'v.npy', feat)
    got = DirectoryStore(root)['v']
    assert got.dtype == np.float32 and got.dtype.isnative
    np.testing.assert_array_equal(got, feat)
