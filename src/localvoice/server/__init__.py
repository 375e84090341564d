"""``localvoice serve``: the browser voice page, its WebSocket, and OpenAI / Ollama compatible HTTP APIs."""
