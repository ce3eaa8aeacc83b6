"""lore-bench: benchmark parameter-efficient transfer methods for pre-trained ViTs."""
__version__ = "0.1.0"
