"""The LLM layer: chat backends (OpenAI-compatible, embedded llama.cpp) behind one client."""
