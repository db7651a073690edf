"""Grounding datasets over feature stores: annotations, feature stores.

Importing this package registers the annotation loaders of the shared
formats in :data:`~vtg_plugins.registry.ANNOTATION_LOADERS` and the
feature-store backends in :data:`FEATURE_STORES`.
"""
from .ann_formats import (EGO4D_CLIP_LEN, ego4d_nlq_jsonl_to_record,
                          load_ego4d_nlq_json, load_ego4d_nlq_jsonl,
                          load_qvhighlights, qvhighlights_to_record)
from .annotations import (GroundingRecord, dump_grounding_annotations,
                          load_grounding_annotations, load_normalized,
                          read_records, validate_record)
from .grounding import GroundingDataset, check_finite
from .feature_stores import (BACKENDS, FEATURE_STORES, DirectoryStore,
                             FeatureStore, LMDBStore, PackedStore,
                             build_feature_store, read_meta)

__all__ = [
    'GroundingDataset', 'check_finite', 'GroundingRecord',
    'load_grounding_annotations', 'dump_grounding_annotations',
    'validate_record', 'read_records', 'load_normalized', 'load_qvhighlights',
    'load_ego4d_nlq_jsonl', 'load_ego4d_nlq_json', 'EGO4D_CLIP_LEN',
    'qvhighlights_to_record', 'ego4d_nlq_jsonl_to_record', 'FEATURE_STORES',
    'BACKENDS', 'FeatureStore', 'DirectoryStore', 'LMDBStore', 'PackedStore',
    'build_feature_store', 'read_meta'
]
