"""LLM sync: a space's knowledge delta becomes a validated fine-tuning dataset, a job on a backend, a model version."""
