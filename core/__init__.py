"""Shared foundation: settings, model configuration, database, artifact store, errors.

Importing this package switches off the usage telemetry of MLflow and Evidently for the
whole process (see ../shared/FINDINGS.md): Evidently stops when ``DO_NOT_TRACK`` is set to
anything, MLflow only when it is ``true`` or ``MLFLOW_DISABLE_TELEMETRY`` is true. A user who
really wants telemetry can set the variables to something else before start-up.
"""

import os

os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
