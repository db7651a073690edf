"""Feature stores: one reader interface, three backends (DESIGN.md §4).

=========  ===================  ==================  =======================
backend    reader               writer              on-disk layout
=========  ===================  ==================  =======================
``dir``    :class:`DirectoryStore`  :class:`DirectoryWriter`  ``{key}.npy|npz``
``lmdb``   :class:`LMDBStore`   :class:`LMDBWriter`  GroundNLQ LMDB (npz values)
``packed`` :class:`PackedStore` :class:`PackedWriter`  memmapped shards + index
=========  ===================  ==================  =======================
"""
from .base import (FEATURE_STORES, META_FILE, RECIPE_KEYS, FeatureStore,
                   StoreWriter, build_feature_store, check_recipe, read_meta)
from .directory import DirectoryStore, DirectoryWriter
from .lmdb_store import LMDBStore, LMDBWriter
from .packed import PackedStore, PackedWriter

#: backend name -> (reader class, writer class)
BACKENDS = {
    'dir': (DirectoryStore, DirectoryWriter),
    'lmdb': (LMDBStore, LMDBWriter),
    'packed': (PackedStore, PackedWriter),
}

__all__ = [
    'FEATURE_STORES', 'META_FILE', 'RECIPE_KEYS', 'BACKENDS', 'FeatureStore',
    'StoreWriter', 'build_feature_store', 'check_recipe', 'read_meta',
    'DirectoryStore', 'DirectoryWriter', 'LMDBStore', 'LMDBWriter',
    'PackedStore', 'PackedWriter'
]
