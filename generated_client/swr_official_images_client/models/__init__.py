"""Contains all the data models used in inputs/outputs"""

from .error import Error
from .official_image import OfficialImage
from .official_image_page import OfficialImagePage
from .probe_status import ProbeStatus
from .probe_status_status import ProbeStatusStatus

__all__ = (
    "Error",
    "OfficialImage",
    "OfficialImagePage",
    "ProbeStatus",
    "ProbeStatusStatus",
)
