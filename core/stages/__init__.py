"""Pipeline stages: features, projection, clustering, factors, summary, reasoning paths, retrieval; the profile.

Shared records and protocols are in :mod:`core.stages.types`; the build is :mod:`core.stages.pipeline`,
its result :mod:`core.stages.profile`, the curation edits :mod:`core.stages.edits`.
"""
