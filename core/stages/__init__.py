"""Pipeline stages: features, factors, summary, reasoning paths, retrieval."""
