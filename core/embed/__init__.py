"""Embedding backends: the MiniLM ONNX default, a hashing fallback, OpenAI-compatible, and a workspace cache."""
