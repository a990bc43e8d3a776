"""The workflows room: run folders, papermill sweeps, the pipeline and the HTML report."""
