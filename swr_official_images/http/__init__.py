"""HTTP: the transport under uvicorn, the middlewares, security, validation and error bodies."""
