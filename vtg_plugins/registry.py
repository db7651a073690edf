"""Registries of vtg_plugins: children of MMAction2's, scope ``vtg_plugins``.

Every registry here has the MMAction2 registry of the same role as parent, so a
config with ``default_scope='vtg_plugins'`` finds our modules first and falls
back to MMAction2's (and through it MMEngine's). ``locations`` lists the
packages that register into each one, so ``Registry.build`` imports them lazily
when a config names a type before anything was imported.
"""
from mmaction import registry as mmaction_registry
from mmengine.registry import Registry

SCOPE = 'vtg_plugins'


def _child(name: str, *locations: str) -> Registry:
    parent = getattr(mmaction_registry, name)
    return Registry(
        parent.name, parent=parent, scope=SCOPE, locations=list(locations))


RUNNERS = _child('RUNNERS')
RUNNER_CONSTRUCTORS = _child('RUNNER_CONSTRUCTORS')
LOOPS = _child('LOOPS', 'vtg_plugins.engine')
HOOKS = _child('HOOKS', 'vtg_plugins.engine')
LOG_PROCESSORS = _child('LOG_PROCESSORS')
OPTIMIZERS = _child('OPTIMIZERS', 'vtg_plugins.engine')
OPTIM_WRAPPERS = _child('OPTIM_WRAPPERS', 'vtg_plugins.engine')
OPTIM_WRAPPER_CONSTRUCTORS = _child('OPTIM_WRAPPER_CONSTRUCTORS',
                                    'vtg_plugins.engine')
PARAM_SCHEDULERS = _child('PARAM_SCHEDULERS', 'vtg_plugins.engine')
DATASETS = _child('DATASETS', 'vtg_plugins.datasets')
DATA_SAMPLERS = _child('DATA_SAMPLERS', 'vtg_plugins.datasets')
TRANSFORMS = _child('TRANSFORMS', 'vtg_plugins.datasets')
FUNCTION = _child('FUNCTION', 'vtg_plugins.datasets')
EVALUATOR = _child('EVALUATOR', 'vtg_plugins.evaluation.metrics')
MODELS = _child('MODELS', 'vtg_plugins.models')
MODEL_WRAPPERS = _child('MODEL_WRAPPERS')
WEIGHT_INITIALIZERS = _child('WEIGHT_INITIALIZERS')
METRICS = _child('METRICS', 'vtg_plugins.evaluation.metrics')
TASK_UTILS = _child('TASK_UTILS', 'vtg_plugins.models')
VISUALIZERS = _child('VISUALIZERS')
VISBACKENDS = _child('VISBACKENDS')
INFERENCERS = _child('INFERENCERS', 'vtg_plugins.apis')
TOKENIZER = _child('TOKENIZER')

# Our own (MMAction2 has no counterpart): feature-store backends.
FEATURE_STORES = Registry(
    'feature store',
    scope=SCOPE,
    locations=['vtg_plugins.datasets.feature_stores'])
# Annotation loaders (format name -> ``(path, window_policy, tolerance,
# **kwargs) -> list[GroundingRecord]``), one per annotation file format.
ANNOTATION_LOADERS = Registry(
    'annotation loader',
    scope=SCOPE,
    locations=['vtg_plugins.datasets'])
# Query text normalizers (name -> ``str -> str``) of feature recipes.
TEXT_NORMALIZERS = Registry(
    'text normalizer',
    scope=SCOPE,
    locations=['vtg_plugins.features.text_normalizers'])
# Query-token recipes (name -> ``QueryTokenRecipe`` class): which CLIP text
# tokens make a query's features.
QUERY_TOKEN_RECIPES = Registry(
    'query token recipe',
    scope=SCOPE,
    locations=['vtg_plugins.features.query_tokens'])
