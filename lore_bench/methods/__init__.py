"""PET methods. Each module of this package registers one built-in method."""
from .base import Method, PrepareContext, TaskInfo  # noqa: F401
from .registry import METHODS, register_method, resolve_method  # noqa: F401
