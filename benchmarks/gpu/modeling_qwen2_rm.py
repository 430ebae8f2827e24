"""A Qwen2.5-Math-PRM-shaped model class, copied into the random-weight PRM folders as remote code.

The real Qwen/Qwen2.5-Math-PRM-7B folder ships its model class as remote code: its
``config.json`` names ``architectures: ["Qwen2ForProcessRewardModel"]`` and
``auto_map: {"AutoModel": "modeling_qwen2_rm.Qwen2ForProcessRewardModel"}``, and its weights are
a Qwen2 decoder (``model.*``) plus a two-layer head ``score.0`` (hidden -> hidden), ReLU,
``score.2`` (hidden -> 2). This file is a fresh implementation of that layout (written here,
not copied), so that ``PRMJudge(folder, trust_remote_code=True)`` runs through the same branch of
its loader (``AutoModel`` from ``auto_map``) as it would for the real folder.

``forward`` returns ``logits`` of shape ``(batch, tokens, 2)``; class 1 = the step is correct.
It names its keyword arguments (no ``**kwargs``), as the real file does, so the judge's
argument filtering is exercised too.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import Qwen2Model, Qwen2PreTrainedModel
from transformers.modeling_outputs import TokenClassifierOutput


class Qwen2ForProcessRewardModel(Qwen2PreTrainedModel):
    """Qwen2 decoder + MLP head giving 2 logits per token (the Qwen2.5-Math-PRM layout)."""

    def __init__(self, config):
        super().__init__(config)
        self.num_labels = 2
        self.model = Qwen2Model(config)
        self.score = nn.Sequential(nn.Linear(config.hidden_size, config.hidden_size), nn.ReLU(),
                                   nn.Linear(config.hidden_size, self.num_labels))
        self.post_init()

    def get_input_embeddings(self):
        return self.model.embed_tokens

    def set_input_embeddings(self, value):
        self.model.embed_tokens = value

    def forward(self, input_ids: torch.LongTensor | None = None, attention_mask: torch.Tensor | None = None,
                position_ids: torch.LongTensor | None = None, inputs_embeds: torch.FloatTensor | None = None,
                use_cache: bool | None = None) -> TokenClassifierOutput:
        """``input_ids``/``attention_mask``/``position_ids``: ``(batch, tokens)``.

        Returns:
            ``TokenClassifierOutput`` whose ``logits`` are ``(batch, tokens, 2)``.
        """
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                         inputs_embeds=inputs_embeds, use_cache=use_cache)
        return TokenClassifierOutput(logits=self.score(out[0]))
