"""Chat models: Ollama over HTTP, llama.cpp embedded, and the history trimming they share."""
