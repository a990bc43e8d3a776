"""The model room: the Vensim file, its PySD translation cache, the parameter table and units.

``mdl`` reads sector groups and the sketch, ``pysd_model`` translates and loads the model
(with fast table functions), ``parameters`` is the parameter table and its checks, ``units``
checks dimensional consistency.
"""
