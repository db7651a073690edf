"""Feature stores: one reader interface, three backends
(docs/data_contracts.md).

=========  =======================  =======================  ==================
backend    reader                   writer                   on-disk layout
=========  =======================  =======================  ==================
``dir``    :class:`DirectoryStore`  :class:`DirectoryWriter`  ``{key}.npy|npz``
``lmdb``   :class:`LMDBStore`       :class:`LMDBWriter`       GroundNLQ LMDB
``packed`` :class:`PackedStore`     :class:`PackedWriter`     memmapped shards
=========  =======================  =======================  ==================

:data:`BACKENDS` maps each backend name to its ``(reader, writer)`` classes,
read from the :data:`FEATURE_STORES` registry (every reader declares
``backend`` and ``writer_cls``).
"""
from .base import (BACKENDS, FEATURE_STORES, META_FILE, FeatureStore,
                   StoreWriter, build_feature_store, read_meta)
from .directory import DirectoryStore, DirectoryWriter
from .lmdb_store import LMDBStore, LMDBWriter
from .packed import PackedStore, PackedWriter

__all__ = [
    'FEATURE_STORES', 'META_FILE', 'BACKENDS', 'FeatureStore', 'StoreWriter',
    'build_feature_store', 'read_meta', 'DirectoryStore', 'DirectoryWriter',
    'LMDBStore', 'LMDBWriter', 'PackedStore', 'PackedWriter'
]
