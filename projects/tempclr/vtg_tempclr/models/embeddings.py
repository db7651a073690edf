"""MMPT's multimodal BERT embeddings: video tokens spliced after ``[CLS]``.

The video encoder reads ``[CLS] v_1 .. v_Lv [SEP]``: the caption prefix
``[CLS] [SEP]`` gives the word embeddings of the two special tokens and the
video tokens go between them. Position ids follow MMPT: ``0 .. Lv`` for
``[CLS]`` and the video tokens, then ``max_video_len + 1 ..`` for the
caption tokens after ``[CLS]`` (so the video ``[SEP]`` sits at
``max_video_len + 1`` whatever ``Lv`` is). Token types are all 0.
"""
import torch
from transformers import BertConfig
from transformers.models.bert.modeling_bert import BertEmbeddings


def mmpt_position_ids(num_video_tokens: int,
                      num_caption_tokens: int,
                      max_video_len: int,
                      device: torch.device = None) -> torch.Tensor:
    """Position ids of ``[CLS] video tokens caption[1:]``.

    Args:
        num_video_tokens (int): ``Lv``.
        num_caption_tokens (int): ``Lc``, the caption ids including
            ``[CLS]``.
        max_video_len (int): MMPT's ``max_video_len``.

    Returns:
        torch.Tensor: ``[1, Lv + Lc]`` long: ``0 .. Lv`` then
        ``max_video_len + 1 .. max_video_len + Lc - 1``.
    """
    head = torch.arange(num_video_tokens + 1, device=device)
    tail = torch.arange(
        max_video_len + 1, max_video_len + num_caption_tokens, device=device)
    return torch.cat([head, tail])[None]


class MMBertEmbeddings(BertEmbeddings):
    """BERT embeddings of ``[CLS] video tokens caption[1:]`` (MMPT
    ``MMBertEmbeddings``; the parameters are ``BertEmbeddings``' own).

    Args:
        config (BertConfig): the video tower's BERT config.
        max_video_len (int): MMPT's ``max_video_len`` (position offset of
            the caption part).
    """

    def __init__(self, config: BertConfig, max_video_len: int) -> None:
        super().__init__(config)
        self.max_video_len = max_video_len

    def forward(self, input_ids: torch.Tensor,
                video_tokens: torch.Tensor) -> torch.Tensor:
        """
        Args:
            input_ids: ``[N, Lc]`` caption ids starting with ``[CLS]``
                (the video encoder passes ``[CLS] [SEP]``).
            video_tokens: ``[N, Lv, H]`` from ``VideoTokenMLP``.

        Returns:
            ``[N, Lv + Lc, H]`` embeddings (LayerNorm and dropout applied).
        """
        num_video, num_caption = video_tokens.shape[1], input_ids.shape[1]
        position_ids = mmpt_position_ids(num_video, num_caption,
                                         self.max_video_len, input_ids.device)
        if int(position_ids.max()) >= self.position_embeddings.num_embeddings:
            raise ValueError(
                f'MMBertEmbeddings: {num_video} video tokens with '
                f'max_video_len={self.max_video_len} need position '
                f'{int(position_ids.max())}, beyond max_position_embeddings='
                f'{self.position_embeddings.num_embeddings}')
        words = self.word_embeddings(input_ids)
        tokens = torch.cat(
            [words[:, :1],
             video_tokens.to(words.dtype), words[:, 1:]], dim=1)
        token_types = torch.zeros_like(position_ids)
        embeddings = (
            tokens + self.position_embeddings(position_ids) +
            self.token_type_embeddings(token_types))
        return self.dropout(self.LayerNorm(embeddings))
