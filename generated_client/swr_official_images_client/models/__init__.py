"""Contains all the data models used in inputs/outputs"""

from .error import Error
from .official_image import OfficialImage
from .official_image_page import OfficialImagePage
from .status import Status
from .status_status import StatusStatus

__all__ = (
    "Error",
    "OfficialImage",
    "OfficialImagePage",
    "Status",
    "StatusStatus",
)
