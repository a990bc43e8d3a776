"""The engine room: running the model.

``pysd_runner`` runs one parameter set through PySD (the reference); the ensemble engine
compiles PySD's abstract model (``ir``) into one vectorised numpy function (``codegen``) and
runs N members side by side, in chunks, in worker processes or on dask (``ensemble``).
"""
