from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error import Error
from ...types import Response


def _get_kwargs() -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/metrics",
    }

    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Error | str | None:
    if response.status_code == 200:
        response_200 = response.text
        return response_200

    if response.status_code == 400:
        response_400 = Error.from_dict(response.json())

        return response_400

    if response.status_code == 404:
        response_404 = Error.from_dict(response.json())

        return response_404

    if response.status_code == 414:
        response_414 = Error.from_dict(response.json())

        return response_414

    if response.status_code == 431:
        response_431 = Error.from_dict(response.json())

        return response_431

    if response.status_code == 500:
        response_500 = Error.from_dict(response.json())

        return response_500

    if response.status_code == 505:
        response_505 = Error.from_dict(response.json())

        return response_505

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Error | str]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
) -> Response[Error | str]:
    """Service metrics for Prometheus

     The service's metrics in the Prometheus text format: requests by operationId and
    status, a latency histogram by operationId, requests in flight, 401s by reason
    (`missing`, `duplicate`, `unknown`, `expired`, `revoked`), database errors, the
    catalog's size and the build's versions. With several worker processes, one scrape
    reports all of them. No token is needed: the metrics name no image and no token. An
    operator who does not want them served sets `SWR_METRICS=false`, and the path
    answers 404.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Error | str]
    """

    kwargs = _get_kwargs()

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient | Client,
) -> Error | str | None:
    """Service metrics for Prometheus

     The service's metrics in the Prometheus text format: requests by operationId and
    status, a latency histogram by operationId, requests in flight, 401s by reason
    (`missing`, `duplicate`, `unknown`, `expired`, `revoked`), database errors, the
    catalog's size and the build's versions. With several worker processes, one scrape
    reports all of them. No token is needed: the metrics name no image and no token. An
    operator who does not want them served sets `SWR_METRICS=false`, and the path
    answers 404.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Error | str
    """

    return sync_detailed(
        client=client,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
) -> Response[Error | str]:
    """Service metrics for Prometheus

     The service's metrics in the Prometheus text format: requests by operationId and
    status, a latency histogram by operationId, requests in flight, 401s by reason
    (`missing`, `duplicate`, `unknown`, `expired`, `revoked`), database errors, the
    catalog's size and the build's versions. With several worker processes, one scrape
    reports all of them. No token is needed: the metrics name no image and no token. An
    operator who does not want them served sets `SWR_METRICS=false`, and the path
    answers 404.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Error | str]
    """

    kwargs = _get_kwargs()

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
) -> Error | str | None:
    """Service metrics for Prometheus

     The service's metrics in the Prometheus text format: requests by operationId and
    status, a latency histogram by operationId, requests in flight, 401s by reason
    (`missing`, `duplicate`, `unknown`, `expired`, `revoked`), database errors, the
    catalog's size and the build's versions. With several worker processes, one scrape
    reports all of them. No token is needed: the metrics name no image and no token. An
    operator who does not want them served sets `SWR_METRICS=false`, and the path
    answers 404.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Error | str
    """

    return (
        await asyncio_detailed(
            client=client,
        )
    ).parsed
