"""Answering methods, each returning an answer and a step trace."""
