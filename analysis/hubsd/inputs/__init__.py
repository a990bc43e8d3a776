"""The inputs room: hub files, calibrated-set registry, scenarios and observations.

Everything a run reads besides the model: ``hubs`` (``data/hubs/*.yaml`` and hub names such
as ``krakow@v1``), ``calibrated`` (``data/calibrated/<hub>/vN.yaml``), ``scenarios``
(``data/scenarios.yaml`` and named shocks) and ``observations`` (``data/observed/*.csv``).
"""
