"""Results: the versioned Parquet schema and the store."""
from .schema import SCHEMA_VERSION, STATUS_DIVERGED, STATUS_FAILED, STATUS_OK  # noqa: F401
from .store import ResultsStore  # noqa: F401
