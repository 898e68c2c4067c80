"""The decontaminate stage: word n-gram overlap with evaluation sets (exact index or Bloom filters)."""
