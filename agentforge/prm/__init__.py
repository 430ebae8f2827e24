"""The process reward model pipeline: stepwise data, Math-Shepherd-style labeling, training and
evaluation (step AUROC, ProcessBench first-error F1).

- ``agentforge.prm.data``: TRL's stepwise format (read, write, check), CHAMP's human first-error
  annotations, GSM8K solutions as steps.
- ``agentforge.prm.label``: automatic step labels from policy-model rollouts (Math-Shepherd,
  Wang et al. 2024).
- ``agentforge.prm.train``: fine-tune a PRM in the Qwen2.5-Math-PRM layout (torch, transformers).
- ``agentforge.prm.eval``: score a judge against step labels.

The judge that *uses* a PRM at run time lives in ``agentforge.judges`` (``PRMJudge``,
``HTTPJudge``, the server); this package sits above it.
"""
