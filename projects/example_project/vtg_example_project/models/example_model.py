"""The example model: a clip scorer that turns its scores into a moment."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from torch import Tensor, nn

from vtg_plugins.registry import MODELS


@MODELS.register_module()
class ExampleMomentModel(BaseModel):
    """Score every clip as inside or outside the queried moment.

    A two-layer MLP gives one logit per clip; the loss is the binary cross
    entropy against ``clip_labels``; the prediction is the run of clips
    around the best-scoring one whose probability stays at or above
    ``threshold``, as a ``[start, end, score]`` window in seconds.

    Inputs follow MMEngine's ``forward(inputs, data_samples, mode)``
    contract: ``inputs`` is a list of B tensors ``[T_i, D]`` (videos of
    different lengths, as ``pseudo_collate`` gives them) or a padded tensor
    ``[B, T, D]``; ``data_samples`` the packed samples of
    :class:`~vtg_example_project.datasets.PackExampleInputs`.

    Args:
        in_dim (int): D, the feature size.
        hidden_dim (int): width of the hidden layer.
        threshold (float): clip probability that extends the predicted run.
        data_preprocessor (dict, optional): MMEngine data preprocessor.
        init_cfg (dict, optional): MMEngine weight initialisation.
    """

    def __init__(self,
                 in_dim: int = 16,
                 hidden_dim: int = 32,
                 threshold: float = 0.5,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.threshold = threshold
        self.scorer = nn.Sequential(
            nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, 1))

    @staticmethod
    def pad(inputs: Union[Tensor, Sequence[Tensor]]) -> Tuple[Tensor, Tensor]:
        """Stack videos of different lengths.

        Returns:
            tuple: features ``[B, T, D]`` (zeros past each video's end) and
            the valid-clip mask, bool ``[B, T]``.
        """
        if isinstance(inputs, Tensor):
            mask = inputs.new_ones(inputs.shape[:2], dtype=torch.bool)
            return inputs, mask
        feats = nn.utils.rnn.pad_sequence(list(inputs), batch_first=True)
        lengths = torch.tensor([len(x) for x in inputs], device=feats.device)
        mask = torch.arange(
            feats.shape[1], device=feats.device)[None] < lengths[:, None]
        return feats, mask

    def forward(self,
                inputs: Union[Tensor, Sequence[Tensor]],
                data_samples: Optional[List[BaseDataElement]] = None,
                mode: str = 'tensor'):
        """``'tensor'``: clip logits ``[B, T]`` (``-inf`` past each video's
        end); ``'loss'``: a dict of losses; ``'predict'``: the data samples
        with predictions."""
        if mode == 'tensor':
            return self._forward(inputs)
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        raise ValueError(f"mode must be 'tensor', 'loss' or 'predict', got "
                         f'{mode!r}')

    def _forward(self, inputs) -> Tensor:
        feats, mask = self.pad(inputs)
        logits = self.scorer(feats).squeeze(-1)
        return logits.masked_fill(~mask, float('-inf'))

    def loss(self, inputs,
             data_samples: List[BaseDataElement]) -> Dict[str, Tensor]:
        """Binary cross entropy of the clip logits, averaged over the valid
        clips of the batch."""
        logits = self._forward(inputs)
        labels = nn.utils.rnn.pad_sequence(
            [s.clip_labels for s in data_samples], batch_first=True)
        if labels.shape != logits.shape:
            raise ValueError(f'clip_labels {tuple(labels.shape)} do not match '
                             f'the inputs {tuple(logits.shape)}')
        valid = torch.isfinite(logits)
        loss = F.binary_cross_entropy_with_logits(
            logits[valid], labels[valid].to(logits.dtype))
        return dict(loss_clip=loss)

    def predict(self, inputs,
                data_samples: List[BaseDataElement]) -> List[BaseDataElement]:
        """Add ``pred_relevant_windows`` ``[1, 3]`` (start s, end s, mean
        probability of the run) and ``pred_saliency_scores`` ``[T]`` (clip
        probabilities) to each data sample."""
        probs = self._forward(inputs).sigmoid()
        for prob, sample in zip(probs, data_samples):
            prob = prob[:len(sample.clip_labels)]
            first, last = self.peak_run(prob, self.threshold)
            clip_len, duration = sample.clip_len, sample.duration
            window = [
                first * clip_len,
                min((last + 1) * clip_len, duration),
                prob[first:last + 1].mean().item()
            ]
            sample.pred_relevant_windows = torch.tensor([window])
            sample.pred_saliency_scores = prob.detach()
        return data_samples

    @staticmethod
    def peak_run(prob: Tensor, threshold: float) -> Tuple[int, int]:
        """First and last clip of the run around ``argmax(prob)`` whose
        probabilities are ``>= threshold`` (the peak alone when it is below).

        Args:
            prob (Tensor): ``[T]`` clip probabilities.
        """
        peak = int(prob.argmax())
        first = last = peak
        while first > 0 and prob[first - 1] >= threshold:
            first -= 1
        while last < len(prob) - 1 and prob[last + 1] >= threshold:
            last += 1
        return first, last
