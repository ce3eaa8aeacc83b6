"""Built-in datasets; every module here registers itself on import."""
