"""Personas (Ollama Modelfiles) and fine-tuning the LLM on the user\x27s own Q&A."""
