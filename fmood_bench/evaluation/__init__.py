"""Evaluation against the state of the art: baselines on the same features, benchmark tables."""
