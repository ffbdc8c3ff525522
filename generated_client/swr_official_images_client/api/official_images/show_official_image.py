from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error import Error
from ...models.official_image import OfficialImage
from ...types import UNSET, Response, Unset


def _get_kwargs(
    namespace: str,
    repository: str,
    *,
    if_none_match: str | Unset = UNSET,
    if_modified_since: str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(if_none_match, Unset):
        headers["If-None-Match"] = if_none_match

    if not isinstance(if_modified_since, Unset):
        headers["If-Modified-Since"] = if_modified_since

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v2/manage/dockerhub/namespaces/{namespace}/repos/{repository}".format(
            namespace=quote(str(namespace), safe=""),
            repository=quote(str(repository), safe=""),
        ),
    }

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Any | Error | OfficialImage | None:
    if response.status_code == 200:
        response_200 = OfficialImage.from_dict(response.json())

        return response_200

    if response.status_code == 304:
        response_304 = cast(Any, None)
        return response_304

    if response.status_code == 400:
        response_400 = Error.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = Error.from_dict(response.json())

        return response_401

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


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[Any | Error | OfficialImage]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    namespace: str,
    repository: str,
    *,
    client: AuthenticatedClient,
    if_none_match: str | Unset = UNSET,
    if_modified_since: str | Unset = UNSET,
) -> Response[Any | Error | OfficialImage]:
    """Query official image details (查询官方镜像详情)

     Returns the details of one official image, looked up by its organisation (namespace)
    and image name. A nested image name such as `library/nginx` is written with `$` in
    place of `/` in the path: `library$nginx`.

    A 200 carries a strong `ETag` and a `Last-Modified` (when this service last changed the
    record, which `last_updated`, Docker Hub's date, is not). A client may keep the copy
    (`Cache-Control: private, no-cache`) and revalidate it: `If-None-Match` with the
    `ETag`, or `If-Modified-Since` with the `Last-Modified`, answers 304 without a body
    while the image is unchanged (RFC 9110 §13).

    Args:
        namespace (str):
        repository (str):
        if_none_match (str | Unset):
        if_modified_since (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | Error | OfficialImage]
    """

    kwargs = _get_kwargs(
        namespace=namespace,
        repository=repository,
        if_none_match=if_none_match,
        if_modified_since=if_modified_since,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    namespace: str,
    repository: str,
    *,
    client: AuthenticatedClient,
    if_none_match: str | Unset = UNSET,
    if_modified_since: str | Unset = UNSET,
) -> Any | Error | OfficialImage | None:
    """Query official image details (查询官方镜像详情)

     Returns the details of one official image, looked up by its organisation (namespace)
    and image name. A nested image name such as `library/nginx` is written with `$` in
    place of `/` in the path: `library$nginx`.

    A 200 carries a strong `ETag` and a `Last-Modified` (when this service last changed the
    record, which `last_updated`, Docker Hub's date, is not). A client may keep the copy
    (`Cache-Control: private, no-cache`) and revalidate it: `If-None-Match` with the
    `ETag`, or `If-Modified-Since` with the `Last-Modified`, answers 304 without a body
    while the image is unchanged (RFC 9110 §13).

    Args:
        namespace (str):
        repository (str):
        if_none_match (str | Unset):
        if_modified_since (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | Error | OfficialImage
    """

    return sync_detailed(
        namespace=namespace,
        repository=repository,
        client=client,
        if_none_match=if_none_match,
        if_modified_since=if_modified_since,
    ).parsed


async def asyncio_detailed(
    namespace: str,
    repository: str,
    *,
    client: AuthenticatedClient,
    if_none_match: str | Unset = UNSET,
    if_modified_since: str | Unset = UNSET,
) -> Response[Any | Error | OfficialImage]:
    """Query official image details (查询官方镜像详情)

     Returns the details of one official image, looked up by its organisation (namespace)
    and image name. A nested image name such as `library/nginx` is written with `$` in
    place of `/` in the path: `library$nginx`.

    A 200 carries a strong `ETag` and a `Last-Modified` (when this service last changed the
    record, which `last_updated`, Docker Hub's date, is not). A client may keep the copy
    (`Cache-Control: private, no-cache`) and revalidate it: `If-None-Match` with the
    `ETag`, or `If-Modified-Since` with the `Last-Modified`, answers 304 without a body
    while the image is unchanged (RFC 9110 §13).

    Args:
        namespace (str):
        repository (str):
        if_none_match (str | Unset):
        if_modified_since (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | Error | OfficialImage]
    """

    kwargs = _get_kwargs(
        namespace=namespace,
        repository=repository,
        if_none_match=if_none_match,
        if_modified_since=if_modified_since,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    namespace: str,
    repository: str,
    *,
    client: AuthenticatedClient,
    if_none_match: str | Unset = UNSET,
    if_modified_since: str | Unset = UNSET,
) -> Any | Error | OfficialImage | None:
    """Query official image details (查询官方镜像详情)

     Returns the details of one official image, looked up by its organisation (namespace)
    and image name. A nested image name such as `library/nginx` is written with `$` in
    place of `/` in the path: `library$nginx`.

    A 200 carries a strong `ETag` and a `Last-Modified` (when this service last changed the
    record, which `last_updated`, Docker Hub's date, is not). A client may keep the copy
    (`Cache-Control: private, no-cache`) and revalidate it: `If-None-Match` with the
    `ETag`, or `If-Modified-Since` with the `Last-Modified`, answers 304 without a body
    while the image is unchanged (RFC 9110 §13).

    Args:
        namespace (str):
        repository (str):
        if_none_match (str | Unset):
        if_modified_since (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | Error | OfficialImage
    """

    return (
        await asyncio_detailed(
            namespace=namespace,
            repository=repository,
            client=client,
            if_none_match=if_none_match,
            if_modified_since=if_modified_since,
        )
    ).parsed
