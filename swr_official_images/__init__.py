"""swr-official-images: SWR's "query official image details" API, served from openapi.yaml.

`swr_official_images.app.create_app(Settings)` builds the ASGI app; `swr_official_images.cli` is
the command line.
"""
