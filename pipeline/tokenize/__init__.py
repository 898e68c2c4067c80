"""The tokenize stage: train or load a Hugging Face tokenizer, encode Arrow batches, weights into copies."""
