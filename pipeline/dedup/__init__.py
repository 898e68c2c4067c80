"""The dedup stage: exact fingerprints, MinHash signatures, LSH bands and the near-duplicate decision."""
