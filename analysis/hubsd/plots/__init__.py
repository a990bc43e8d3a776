"""The plots room: the package's figure style and the standard figures of a scenario run."""
