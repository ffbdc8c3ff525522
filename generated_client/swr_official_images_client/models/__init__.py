"""Contains all the data models used in inputs/outputs"""

from .error import Error
from .official_image import OfficialImage
from .official_image_page import OfficialImagePage

__all__ = (
    "Error",
    "OfficialImage",
    "OfficialImagePage",
)
