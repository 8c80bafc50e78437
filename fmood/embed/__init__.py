"""Extraction: images in, embeddings with their metadata out, into a feature store.

``embed_dataset(backbone, data, store)`` decodes files in worker processes, embeds them in
batches and commits whole files in chunks, so a run can be stopped and resumed exactly.
``embed_precomputed(vectors_npy, manifest_csv, store)`` adds embeddings made elsewhere.
"""

from fmood._extras import missing_extra

try:
    from fmood.embed.pipeline import default_workers, embed_dataset
    from fmood.embed.precomputed import embed_precomputed
    from fmood.embed.summary import EmbedSummary, default_failures_path
except ModuleNotFoundError as exc:
    raise missing_extra(exc, "fmood.embed (embedding images)", "models") from exc

__all__ = [
    "EmbedSummary",
    "default_failures_path",
    "default_workers",
    "embed_dataset",
    "embed_precomputed",
]
