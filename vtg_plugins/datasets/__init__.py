"""Grounding datasets over feature stores: annotations, feature stores.

Importing this package registers the feature-store backends in
:data:`FEATURE_STORES`.
"""
from .ann_formats import (ANNOTATION_FORMATS, EGO4D_CLIP_LEN,
                          ego4d_nlq_jsonl_to_record, load_ego4d_nlq_json,
                          qvhighlights_to_record)
from .annotations import (GroundingRecord, dump_grounding_annotations,
                          load_grounding_annotations, validate_record)
from .grounding import GroundingDataset, check_finite
from .feature_stores import (BACKENDS, FEATURE_STORES, DirectoryStore,
                             FeatureStore, LMDBStore, PackedStore,
                             build_feature_store, check_recipe, read_meta)

__all__ = [
    'GroundingDataset', 'check_finite',
    'GroundingRecord', 'load_grounding_annotations',
    'dump_grounding_annotations', 'validate_record', 'ANNOTATION_FORMATS',
    'EGO4D_CLIP_LEN', 'qvhighlights_to_record', 'ego4d_nlq_jsonl_to_record',
    'load_ego4d_nlq_json', 'FEATURE_STORES', 'BACKENDS', 'FeatureStore',
    'DirectoryStore', 'LMDBStore', 'PackedStore', 'build_feature_store',
    'check_recipe', 'read_meta'
]
