"""The extension points a grounding model implements for the inference API.

:class:`~vtg_plugins.apis.MomentRetrievalInferencer` runs any grounding
model of the ``MODELS`` registry from its config and checkpoint. It needs
the standard MMEngine ``predict`` (through ``test_step``) and the config's
test pipeline; these optional members let it do more:

``max_input_clips`` (attribute or property, ``int`` or None)
    The longest clip sequence one forward takes (None: any). Longer videos
    run as overlapping sliding windows of this many clips. Default None.
``input_feature_recipe()`` -> dict
    The feature-recipe fields the model's own settings decide (e.g. the
    CLIP ``backbone`` its input widths are made for, and ``k`` layers).
    The lowest-precedence source of the recipe; default ``{}``.
``predict_candidates(inputs, data_samples)`` -> list[dict]
    Like ``predict`` but before the method's post-processing, one dict per
    sample: ``windows`` ``Tensor[N, 3]`` (start_s, end_s, score) in seconds
    from the sample's first clip, in any order, unclamped (absent for a
    model without moments); ``saliency`` ``Tensor[T]`` per clip where the
    model has it; any other field holds one row per candidate (e.g. class
    ``labels`` ``[N]``). Needed for sliding windows.
``merge_candidates(candidates, duration)`` -> ``Tensor[K, 3]``
    The method's own post-processing (e.g. NMS, clamping, rounding) of the
    candidates of all windows of one video, given as the dict of
    ``predict_candidates`` fields (``windows`` shifted to video seconds,
    the other per-candidate fields concatenated in window order); returns
    the final ``(start_s, end_s, score)`` rows, best first. On the
    candidates of one window it gives what ``predict`` gives. Needed for
    sliding windows of a model with ``windows``.

The saliency of overlapping windows is averaged per clip by the API.
"""
from typing import Any, Dict, List, Optional, Protocol, Sequence

from torch import Tensor


class SlidingWindowGrounder(Protocol):
    """A grounding model with every extension point (see the module
    docstring)."""

    max_input_clips: Optional[int]

    def input_feature_recipe(self) -> dict:
        ...

    def predict(self, inputs: Dict[str, Any],
                data_samples: Sequence[Any]) -> List[Any]:
        ...

    def predict_candidates(
            self, inputs: Dict[str, Any],
            data_samples: Sequence[Any]) -> List[Dict[str, Tensor]]:
        ...

    def merge_candidates(self, candidates: Dict[str, Tensor],
                         duration: float) -> Tensor:
        ...
