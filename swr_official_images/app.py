"""The app factory: binds openapi.yaml to the handlers, the stores and the error handling."""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator

from connexion.middleware import MiddlewarePosition
from connexion.options import SwaggerUIOptions
from connexion.resolver import RelativeResolver

from swr_official_images.http.async_app import SwrAsyncApp
from swr_official_images.http.cors import SwrCorsMiddleware, cors_options
from swr_official_images.http.errors import register_error_handlers
from swr_official_images.http.middleware import RequestContextMiddleware, ResponseHeadersMiddleware
from swr_official_images.http.routing import connexion_middlewares
from swr_official_images.http.security import AUTH_FAILURE_REASONS, SECURITY_MAP
from swr_official_images.http.transport import (
    CLOSE_REASONS,
    EVENTS_STATE_KEY,
    REFUSALS,
    TransportEvents,
)
from swr_official_images.http.validation import PlainPathURIParser, ShortMessageParameterValidator
from swr_official_images.ops.access import AccessMiddleware, TransportLog
from swr_official_images.ops.health import NotReady, Readiness
from swr_official_images.ops.logging import AccessLog
from swr_official_images.ops.metrics import LabelSets, Metrics
from swr_official_images.ops.shutdown import Drain
from swr_official_images.settings import Settings
from swr_official_images.spec import load_spec, service_version, spec_version
from swr_official_images.store.access_keys import AccessKeyStore
from swr_official_images.store.cached_stores import CachedImages, CachedTokens
from swr_official_images.store.db import make_engine, stop_waiting
from swr_official_images.store.images import SqlImageRepository
from swr_official_images.store.master_key import MasterKeyError, load_master_key
from swr_official_images.store.migrations import head_revision, prepare_schema
from swr_official_images.store.tokens import TokenStore

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> SwrAsyncApp:
    engine = make_engine(settings)
    images = SqlImageRepository(engine)
    tokens = TokenStore(engine)
    image_cache = CachedImages(images, settings.image_cache_size, settings.cache_ttl)
    token_cache = CachedTokens(tokens, settings.token_cache_size, settings.cache_ttl)
    drain = Drain(settings.shutdown_drain)
    readiness = Readiness(engine, head_revision(), settings.readiness_timeout_ms / 1000, drain)
    spec = load_spec()
    metrics = Metrics(
        service_version(),
        spec_version(),
        LabelSets(
            auth_failures=AUTH_FAILURE_REASONS,
            transport_refusals=tuple(refusal.reason for refusal in REFUSALS),
            connections_closed=CLOSE_REASONS,
        ),
    )
    access_log = AccessLog(settings.log_format)
    transport_events: TransportEvents = TransportLog(access_log, metrics)

    @contextlib.asynccontextmanager
    async def lifespan(_app: object) -> AsyncIterator[dict[str, object]]:
        try:
            # SQLite migrates itself; on a PostgreSQL schema that is not current, start-up
            # fails here.
            prepare_schema(engine)
            # The embedded default makes its master key on first start; without one (PostgreSQL
            # and no SWR_SECRET_KEY, or a key file that cannot be used) tokens still work and
            # signed requests are refused.
            try:
                master_key = load_master_key(settings, create=True)
            except MasterKeyError as exc:
                master_key = None
                log.error("AK/SK request signing is off: %s", exc)
            else:
                if master_key is None:
                    log.warning("AK/SK request signing is off: SWR_SECRET_KEY is not set")
            with drain.on_signals():
                # Lifespan state: every request sees these as request.state.<name>.
                yield {
                    "images": images,
                    "access_keys": AccessKeyStore(engine, master_key),
                    "image_cache": image_cache,
                    "token_cache": token_cache,
                    "readiness": readiness,
                    "metrics": metrics if settings.metrics else None,
                    # For the transport (swr_official_images.http.transport), which uvicorn
                    # hands this state.
                    EVENTS_STATE_KEY: transport_events,
                }
        finally:
            # The access lines of the last turn of the loop, which may not come.
            access_log.flush()
            metrics.process_exiting()
            image_cache.close()
            # Requests still waiting on the database once the grace is over stop waiting, so
            # that the process can exit (it waits for their threads) whatever the database does.
            stop_waiting(engine)
            engine.dispose()

    app = SwrAsyncApp(
        __name__,
        lifespan=lifespan,
        middlewares=connexion_middlewares(settings.validate_responses),
        security_map=SECURITY_MAP,
        uri_parser_class=PlainPathURIParser,
    )
    app.add_api(
        # The parsed spec, not its file: Connexion would parse the file again, more slowly.
        load_spec(),
        resolver=RelativeResolver("swr_official_images.handlers"),
        validate_responses=settings.validate_responses,
        strict_validation=True,
        validator_map={"parameter": ShortMessageParameterValidator},
        swagger_ui_options=SwaggerUIOptions(
            serve_spec=settings.swagger_ui,
            swagger_ui=settings.swagger_ui,
            spec_path="/openapi.json",
        ),
    )
    register_error_handlers(app, spec, not_ready=(NotReady,))
    # Middlewares added at one position nest in the order added. Outermost: the access line and
    # metrics see every response as the client gets it. Next: every response, errors and CORS
    # preflights included, carries the request id.
    app.add_middleware(
        AccessMiddleware,
        position=MiddlewarePosition.BEFORE_EXCEPTION,
        spec=spec,
        log=access_log,
        metrics=metrics,
    )
    app.add_middleware(RequestContextMiddleware, position=MiddlewarePosition.BEFORE_EXCEPTION)
    if settings.cors_allow_origins:
        # Only when configured: browsers on these origins may call the API with a token.
        app.add_middleware(
            SwrCorsMiddleware,
            position=MiddlewarePosition.BEFORE_EXCEPTION,
            **cors_options(settings.cors_allow_origins),
        )
    if settings.validate_responses:
        # Innermost: so that response validation sees the headers the spec requires. Without
        # it, RequestContextMiddleware's stamp is the only one needed.
        app.add_middleware(ResponseHeadersMiddleware, position=MiddlewarePosition.BEFORE_CONTEXT)
    return app


def app_for_process(settings: Settings) -> SwrAsyncApp:
    """The app of a server process, which serves it until it exits. What exists by now (the
    spec, Connexion's routes and validators, the libraries) lives as long as the process:
    frozen, the garbage collector's full collections no longer walk it, and stop the requests
    in flight for much shorter. `create_app` alone freezes nothing: a process that builds many
    apps (the tests) would keep every earlier one's garbage for ever."""
    app = create_app(settings)
    gc.collect()
    gc.freeze()
    return app


def app_from_env() -> SwrAsyncApp:
    """The app for `serve --workers N`: each worker process builds its own from SWR_*."""
    return app_for_process(Settings.from_env())
