"""Bad feature stores: every backend refuses them with an error naming the
store (or file), the key and what is wrong (docs/data_contracts.md).

Stores are written by the real writers and then damaged."""
import io
import json
import subprocess
import sys
import textwrap
import zipfile

import lmdb
import numpy as np
import pytest

from vtg_plugins.datasets.feature_stores import (DirectoryStore, LMDBStore,
                                                 LMDBWriter, PackedStore,
                                                 PackedWriter)


def _items(n=3):
    rng = np.random.default_rng(0)
    shapes = [(5, 8), (3, 2, 8), (4, 8)]
    return {f'v{i}': rng.standard_normal(shapes[i % 3]).astype(np.float16)
            for i in range(n)}


def _write(writer, root, items, **kwargs):
    with writer(root, **kwargs) as w:
        for key, value in items.items():
            w.add(key, value)
    return root


def _put_raw(root, key: bytes, value: bytes):
    env = lmdb.open(str(root), map_size=1 << 24)
    with env.begin(write=True) as txn:
        txn.put(key, value)
    env.close()


# --- LMDB ------------------------------------------------------------------
def test_truncated_or_foreign_lmdb_data_mdb_is_refused_not_sigbus(tmp_path):
    """Reading past the end of a memory-mapped data.mdb is a SIGBUS: run the
    reads in a child process, so a regression fails here instead of killing
    pytest, and check each store is refused with its name."""
    items = {f'clip_{i}': np.full((40, 64), i, np.float32) for i in range(30)}
    good = _write(LMDBWriter, tmp_path / 'good', items)
    data = (good / 'data.mdb').read_bytes()
    page = 4096
    cases = {
        'half': data[:len(data) // 2],
        'one_page_short': data[:-page],
        'one_meta_page': data[:page + 100],
        'header_only': data[:100],
        'empty': b'',
        'not_lmdb': b'\x00' * 16 + bytes(range(256)) * 64,
    }
    for name, content in cases.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / 'data.mdb').write_bytes(content)
    script = textwrap.dedent(f'''
        import sys
        from vtg_plugins.datasets.feature_stores import LMDBStore
        for name in {sorted(cases) + ['good']!r}:
            root = {str(tmp_path)!r} + '/' + name
            try:
                store = LMDBStore(root)
                total = sum(float(store[k].sum()) for k in store.keys())
                print(name, 'READ', total)
            except ValueError as e:
                print(name, 'REFUSED', e)
            sys.stdout.flush()
        ''')
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)
    lines = dict(line.split(' ', 1) for line in proc.stdout.splitlines())
    total = float(sum(40 * 64 * i for i in range(30)))
    assert lines['good'] == f'READ {total}'
    for name in cases:
        assert lines[name].startswith(
            f'REFUSED LMDB feature store {tmp_path / name}: '), lines[name]
        assert str(tmp_path / name / 'data.mdb') in lines[name]
    pages = len(data) // page
    for name in ('half', 'one_page_short'):
        assert (f'data.mdb is truncated: its header records {pages} pages of '
                f'{page} bytes ({len(data)} bytes), the file has '
                f'{len(cases[name])}') in lines[name]
    assert 'the second meta page starts at byte 4096' in lines[
        'one_meta_page']
    assert 'too short for an LMDB meta page' in lines['header_only']
    assert '0 bytes, too short' in lines['empty']
    assert 'not an LMDB file' in lines['not_lmdb']


def test_non_utf8_lmdb_key(tmp_path):
    root = _write(LMDBWriter, tmp_path / 'txt', _items())
    _put_raw(root, b'q_\xff\xfe1', b'')
    store = LMDBStore(root)
    with pytest.raises(ValueError) as e:
        store.keys()
    msg = str(e.value)
    assert f'LMDB feature store {root}' in msg
    assert r"key b'q_\xff\xfe1' is not utf-8" in msg
    assert 'invalid start byte at byte 2' in msg
    # a writer resuming such a staging directory says so too
    staging = tmp_path / 'again.partial'
    _write(LMDBWriter, tmp_path / 'again', {}).rename(staging)
    _put_raw(staging, b'\xc3', b'')
    with pytest.raises(ValueError, match=rf"store {staging}: key b'\\xc3'"):
        LMDBWriter(tmp_path / 'again', overwrite=True)


def _npz(compress=True, **arrays):
    buf = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(buf, **arrays)
    return buf.getvalue()


def _npy(array):
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def _corrupt_deflate(blob: bytes) -> bytes:
    """Flip bytes inside the compressed member (past the local header)."""
    blob = bytearray(blob)
    name_len = int.from_bytes(blob[26:28], 'little')
    extra_len = int.from_bytes(blob[28:30], 'little')
    start = 30 + name_len + extra_len + 4
    blob[start:start + 8] = bytes(b ^ 0xff for b in blob[start:start + 8])
    return bytes(blob)


BAD_VALUES = {
    'undecompressable_npz': (
        _corrupt_deflate(_npz(features=np.ones((64, 32), np.float32))),
        'Error -3 while decompressing'),
    'npz_without_expected_array': (
        _npz(other=np.ones(3)), "the archive holds arrays ['other'], none "
        "of ['token_features', 'features']"),
    'truncated_npy': (_npy(np.ones((6, 4), np.float32))[:-10],
                      'truncated: the header declares float32 [6, 4] (96 '
                      'bytes of data), the file holds 86'),
    'npy_with_stray_bytes': (_npy(np.ones((6, 4), np.float32)) + b'xx',
                             '2 stray bytes after the data'),
    'object_array': (_npy(np.array([None, 1], dtype=object)),
                     'holds a Python-object array'),
    'string_array': (_npz(features=np.array(['a', 'b'])),
                     "holds a <U1 array of shape [1, 2]; features are "
                     'numeric'),
    'not_numpy': (b'hello world', "neither .npy nor .npz data (starts "
                  "with b'hello ')"),
}


@pytest.mark.parametrize('bad', sorted(BAD_VALUES))
def test_bad_lmdb_value(tmp_path, bad):
    value, reason = BAD_VALUES[bad]
    root = _write(LMDBWriter, tmp_path / 'vid', _items())
    _put_raw(root, b'clip_x', value)
    store = LMDBStore(root)
    np.testing.assert_array_equal(store['v0'], _items()['v0'])
    with pytest.raises(ValueError) as e:
        store['clip_x']
    msg = str(e.value)
    assert "'clip_x'" in msg and str(root / 'data.mdb') in msg
    assert reason in msg


# --- packed ------------------------------------------------------------------
def _packed(tmp_path, edit):
    """A packed store whose index JSON is changed by ``edit(index)``."""
    root = _write(PackedWriter, tmp_path / 'p', _items())
    path = root / 'features_index.json'
    index = json.loads(path.read_text())
    edit(index)
    path.write_text(json.dumps(index))
    return root, path


def _set(field, i, value):
    return lambda index: index[field].__setitem__(i, value)


BAD_INDEXES = {
    # each key names one item: v1 listed again returns v0's rows today
    'duplicate_key': (_set('keys', 1, 'v0'),
                      "key 'v0' is listed twice (entries 0 and 1)"),
    # [5, 8] stored as [8, 5]: same size, wrong layout
    'transposed_shape': (_set('shapes', 0, [8, 5]),
                         "key 'v0' (entry 0): field shapes = [8, 5]: last dim "
                         "5 is not the store's dim 8"),
    'shape_not_the_rows': (_set('shapes', 2, [6, 8]),
                           "key 'v2' (entry 2): field shapes = [6, 8]: needs "
                           '6 rows of 8, shard 0 item 2 has 4'),
    'shape_of_another_item': (_set('shapes', 1, [5, 8]),
                              "key 'v1' (entry 1): field shapes = [5, 8]: "
                              'needs 5 rows of 8, shard 0 item 1 has 6'),
    'two_keys_one_item': (_set('pos', 1, 0),
                          "key 'v1' (entry 1): field shard/pos = 0/0, the "
                          "item of key 'v0'"),
    'pos_past_the_shard': (_set('pos', 2, 3),
                           "key 'v2' (entry 2): field pos = 3, shard 0 holds "
                           '3 items'),
    'negative_pos': (_set('pos', 0, -1),
                     "key 'v0' (entry 0): field pos = -1, expected an int"),
    'float_shard': (_set('shard', 1, 0.0),
                    "key 'v1' (entry 1): field shard = 0.0, expected an int "
                    'in [0, 1)'),
    'shard_out_of_range': (_set('shard', 0, 1), "key 'v0' (entry 0): field "
                           'shard = 1, expected an int in [0, 1)'),
    'negative_shape': (_set('shapes', 0, [-5, 8]), "key 'v0' (entry 0): "
                       'field shapes = [-5, 8], expected a non-empty list'),
    'empty_key': (_set('keys', 0, ''), "entry 0: field keys = ''"),
    'item_without_key': (lambda ix: [ix[f].pop() for f in
                                     ('keys', 'shard', 'pos', 'shapes')],
                         'shard 0 item 2 belongs to no key (the index lists 2 '
                         'of 3 items)'),
    'lists_of_different_lengths': (lambda ix: ix['shapes'].pop(),
                                   'fields keys/shard/pos/shapes must be '
                                   'lists of one length'),
    'unknown_dtype': (lambda ix: ix.update(dtype='<f3'),
                      "field dtype = '<f3', expected a numeric numpy dtype"),
    'object_dtype': (lambda ix: ix.update(dtype='|O'),
                     "field dtype = '|O', expected a numeric"),
    'no_dim': (lambda ix: ix.pop('dim'), 'field dim = None'),
    'no_num_shards': (lambda ix: ix.pop('num_shards'),
                      'field num_shards = None, expected an int >= 0'),
    'other_format': (lambda ix: ix.update(version=2),
                     "field format/version = 'vtg_packed'/2, expected "
                     "'vtg_packed'/1"),
}


@pytest.mark.parametrize('bad', sorted(BAD_INDEXES))
def test_bad_packed_index(tmp_path, bad):
    edit, reason = BAD_INDEXES[bad]
    root, path = _packed(tmp_path, edit)
    with pytest.raises(ValueError) as e:
        PackedStore(root)  # refused when it opens, before any read
    assert str(e.value).startswith(f'corrupt packed index {path}: ')
    assert reason in str(e.value)


def test_packed_index_not_json_or_not_utf8(tmp_path):
    root, path = _packed(tmp_path, lambda index: None)
    for content, reason in [(b'[1, 2]', 'expected a JSON object, got list'),
                            (b'{"keys": [', 'Expecting value'),
                            (b'{"keys": ["\xff"]}', "can't decode byte 0xff")]:
        path.write_bytes(content)
        with pytest.raises(ValueError) as e:
            PackedStore(root)
        assert str(e.value).startswith(f'corrupt packed index {path}: ')
        assert reason in str(e.value)


def _rewrite_npy(path, array):
    with open(path, 'wb') as f:
        np.save(f, array)


def test_packed_index_dtype_or_dim_not_the_data(tmp_path):
    root, _ = _packed(tmp_path, lambda ix: ix.update(dtype='<f4'))
    shard = root / 'features_0_data.npy'
    with pytest.raises(ValueError) as e:
        PackedStore(root)
    assert str(e.value) == (f'corrupt packed shard file {shard}: dtype '
                            "float16, but the index field dtype = '<f4'")
    root, _ = _packed(tmp_path / 'b', lambda ix: None)
    rows = np.load(root / 'features_0_data.npy')
    _rewrite_npy(root / 'features_0_data.npy',
                 rows.reshape(len(rows), 2, 4))
    with pytest.raises(ValueError, match=r'shape \[15, 2, 4\], but the index '
                       r'field dim = 8 needs \[15, 8\]'):
        PackedStore(root)


@pytest.mark.parametrize('starts, reason', [
    ([0, 5, 3, 15], 'starts must be 1-D integers, begin at 0 and not '
     'decrease'),
    ([0.0, 5.0, 11.0, 15.0], '(got float64 [4])'),
    ([1, 5, 11, 15], 'begin at 0'),
])
def test_bad_packed_starts(tmp_path, starts, reason):
    root, _ = _packed(tmp_path, lambda ix: None)
    path = root / 'features_0_starts.npy'
    _rewrite_npy(path, np.array(starts))
    with pytest.raises(ValueError) as e:
        PackedStore(root)
    assert str(e.value).startswith(f'corrupt packed shard file {path}: ')
    assert reason in str(e.value)


def test_packed_offsets_past_the_data_file(tmp_path):
    """starts that run past the data rows, and a data file cut short: both
    refused when the store opens, naming the shard file."""
    root, _ = _packed(tmp_path, _set('shapes', 2, [5, 8]))
    data = root / 'features_0_data.npy'
    _rewrite_npy(root / 'features_0_starts.npy', np.array([0, 5, 11, 16]))
    with pytest.raises(ValueError) as e:
        PackedStore(root)
    assert str(e.value) == (f'corrupt packed shard file {data}: [15, 8] '
                            'rows but features_0_starts.npy ends at 16')
    root, _ = _packed(tmp_path / 'b', lambda ix: None)
    data = root / 'features_0_data.npy'
    data.write_bytes(data.read_bytes()[:-16])
    with pytest.raises(ValueError, match=rf'corrupt packed shard file {data}: '
                       r'truncated: the header declares float16 \[15, 8\] '
                       r'\(240 bytes of data\), the file holds 224'):
        PackedStore(root)


def test_packed_missing_shard_file(tmp_path):
    root, _ = _packed(tmp_path, lambda ix: None)
    (root / 'features_0_starts.npy').unlink()
    with pytest.raises(ValueError, match='corrupt packed shard file .*'
                       'features_0_starts.npy: .*No such file'):
        PackedStore(root)


# --- directory ---------------------------------------------------------------
def _dir_store(tmp_path, name, content: bytes):
    root = tmp_path / 'clip_b32_vid_k4'
    root.mkdir(exist_ok=True)
    np.save(root / 'good.npy', np.ones((2, 3), np.float16))
    (root / name).write_bytes(content)
    return DirectoryStore(root), root / name


BAD_FILES = {
    'truncated.npy': (_npy(np.ones((7, 2, 3, 8), np.float16))[:-100],
                      'truncated: the header declares float16 [7, 2, 3, 8] '
                      '(672 bytes of data), the file holds 572'),
    'stray_bytes.npy': (_npy(np.ones((2, 4), np.float32)) + b'\x00',
                        '1 stray bytes after the data'),
    'objects.npy': (_npy(np.array([{'a': 1}], dtype=object)),
                    'holds a Python-object array (object), which needs '
                    'pickles'),
    'strings.npy': (_npy(np.array(['ab', 'cd'])),
                    'holds a <U2 array of shape [2]; features are numeric'),
    'scalar.npy': (_npy(np.float32(1)), 'holds a float32 array of shape [];'
                   ' features are numeric arrays (bool, int or float) with '
                   '>= 1 dim'),
    'empty.npy': (b'', ': empty'),
    'text.npy': (b'0.1 0.2\n', "neither .npy nor .npz data (starts with "
                 "b'0.1 0.')"),
    'unnamed_arrays.npz': (_npz(a=np.ones(2), b=np.ones(2)),
                           "the archive holds arrays ['a', 'b'], none of "
                           "['features', 'token_features']"),
    'undecompressable.npz': (_corrupt_deflate(
        _npz(features=np.ones((64, 32), np.float32))),
        'Error -3 while decompressing'),
    'truncated_member.npz': (_npz(compress=False, features=np.ones(
        (8, 4), np.float32))[:200], 'File is not a zip file'),
}


@pytest.mark.parametrize('name', sorted(BAD_FILES))
def test_bad_directory_file(tmp_path, name):
    content, reason = BAD_FILES[name]
    store, path = _dir_store(tmp_path, name, content)
    key = path.stem
    assert store['good'].shape == (2, 3)
    with pytest.raises(ValueError) as e:
        store[key]
    msg = str(e.value)
    assert f'feature file {path} (key {key!r})' in msg
    assert reason in msg


def test_npz_member_shorter_than_its_header(tmp_path):
    """A zip whose member is a cut .npy (a writer killed mid-array)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w') as archive:
        archive.writestr('features.npy',
                         _npy(np.ones((4, 4), np.float32))[:-8])
    store, path = _dir_store(tmp_path, 'cut.npz', buf.getvalue())
    with pytest.raises(ValueError, match=rf"{path} \(key 'cut'\): array "
                       r"'features': truncated: the header declares float32 "
                       r'\[4, 4\] \(64 bytes of data\), the file holds 56'):
        store['cut']


def test_key_in_both_npy_and_npz(tmp_path):
    store, _ = _dir_store(tmp_path, 'good.npz',
                          _npz(features=np.zeros((2, 3), np.float16)))
    with pytest.raises(ValueError) as e:
        store.keys()
    assert str(e.value) == (
        f'directory feature store {tmp_path / "clip_b32_vid_k4"}: key '
        "'good' is stored twice, in good.npy and good.npz; remove one")
