"""swr-official-images: Huawei Cloud SWR's "query official image details" API, served from openapi.yaml."""

from server.app import create_app
from server.settings import Settings

__all__ = ["Settings", "create_app"]
