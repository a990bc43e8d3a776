"""The bottom layer: paths, errors, atomic writing, name hints, YAML reading, sampling, statistics.

Nothing here imports any other part of hubsd.
"""
