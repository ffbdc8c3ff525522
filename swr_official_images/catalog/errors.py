"""The error of a catalog file that cannot be imported."""


class CatalogError(ValueError):
    """A catalog file that cannot be imported; the message names the record and the field."""
