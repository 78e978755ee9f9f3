"""Sync backends: where a fine-tuning job runs (this machine, Azure OpenAI, Azure ML), behind one protocol."""
