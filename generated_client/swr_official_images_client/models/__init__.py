"""Contains all the data models used in inputs/outputs"""

from .error import Error
from .official_image import OfficialImage

__all__ = (
    "Error",
    "OfficialImage",
)
