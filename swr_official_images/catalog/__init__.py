"""Catalog files: reading, validating and writing the records an import or export moves."""
