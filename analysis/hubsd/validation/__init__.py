"""The validation room: the model-testing battery, its checks, reality checks and report.

``battery.validate_model`` runs everything; ``context`` checks the inputs first, ``checks``
holds the tests, ``reality`` reads and runs the declarative reality checks beside the model,
``report`` and ``figures`` present the result.
"""
