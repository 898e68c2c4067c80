"""The semantic dedup stage: embeddings' cosine pairs, cluster chunks and the keeper rule."""
