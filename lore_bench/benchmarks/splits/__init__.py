"""Train/test splits: hashed splits for embedded pools, readers of published split files."""
