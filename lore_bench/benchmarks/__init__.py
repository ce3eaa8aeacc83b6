"""Datasets, few-shot sampling and protocols."""
from .base import DATASETS, Dataset, DatasetMissingError, ImageSplit, get_dataset  # noqa: F401
