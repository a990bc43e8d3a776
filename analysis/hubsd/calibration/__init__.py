"""The calibration room: specs, the objective and fit, intervals, results and calibrated sets.

``spec`` reads a calibration spec, ``fit`` holds the objective, the multi-start fit and the
profile-likelihood intervals, ``calibrate`` puts them together (with the holdout and the
recovery test), ``store`` writes results as a Dataset, a calibrated set and a report.
"""
