"""swr-official-images: SWR's "query official image details" API, served from openapi.yaml.

`server.app.create_app(Settings)` builds the ASGI app; `server.cli` is the command line.
"""
