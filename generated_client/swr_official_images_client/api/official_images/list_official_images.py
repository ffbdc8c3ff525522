from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error import Error
from ...models.official_image_page import OfficialImagePage
from ...types import UNSET, Response, Unset


def _get_kwargs(
    namespace: str,
    *,
    limit: int | Unset = 100,
    marker: str | Unset = UNSET,
    name: str | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["limit"] = limit

    params["marker"] = marker

    params["name"] = name

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v2/manage/dockerhub/namespaces/{namespace}/repos".format(
            namespace=quote(str(namespace), safe=""),
        ),
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Error | OfficialImagePage | None:
    if response.status_code == 200:
        response_200 = OfficialImagePage.from_dict(response.json())

        return response_200

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
) -> Response[Error | OfficialImagePage]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    namespace: str,
    *,
    client: AuthenticatedClient,
    limit: int | Unset = 100,
    marker: str | Unset = UNSET,
    name: str | Unset = UNSET,
) -> Response[Error | OfficialImagePage]:
    """List official images (查询官方镜像列表)

     The official images of one organisation (namespace), ordered by name, `limit` at a time.
    To read them all, send each page's `nextMarker` as the next request's `marker`; the
    last page has no `nextMarker`.

    Names are ordered byte by byte (`-` < `.` < `/` < digits < `_` < letters, whatever the
    database's locale), and a nested name's `/` is written as `$` in `marker`, in `name`
    and in `nextMarker`, as in the image path. Paging is by key, not by offset: a page
    costs the same at the start and at the end of a catalog, and a walk through all pages
    while an import runs returns every image that existed before and after it exactly
    once.

    No total count is given: it would cost a count of the whole namespace on every page,
    where a page reads only its own images from the index.

    An organisation without images, or a `name` that no image starts with, gives an empty
    page (200), not a 404.

    Args:
        namespace (str):
        limit (int | Unset):  Default: 100.
        marker (str | Unset):
        name (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Error | OfficialImagePage]
    """

    kwargs = _get_kwargs(
        namespace=namespace,
        limit=limit,
        marker=marker,
        name=name,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    namespace: str,
    *,
    client: AuthenticatedClient,
    limit: int | Unset = 100,
    marker: str | Unset = UNSET,
    name: str | Unset = UNSET,
) -> Error | OfficialImagePage | None:
    """List official images (查询官方镜像列表)

     The official images of one organisation (namespace), ordered by name, `limit` at a time.
    To read them all, send each page's `nextMarker` as the next request's `marker`; the
    last page has no `nextMarker`.

    Names are ordered byte by byte (`-` < `.` < `/` < digits < `_` < letters, whatever the
    database's locale), and a nested name's `/` is written as `$` in `marker`, in `name`
    and in `nextMarker`, as in the image path. Paging is by key, not by offset: a page
    costs the same at the start and at the end of a catalog, and a walk through all pages
    while an import runs returns every image that existed before and after it exactly
    once.

    No total count is given: it would cost a count of the whole namespace on every page,
    where a page reads only its own images from the index.

    An organisation without images, or a `name` that no image starts with, gives an empty
    page (200), not a 404.

    Args:
        namespace (str):
        limit (int | Unset):  Default: 100.
        marker (str | Unset):
        name (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Error | OfficialImagePage
    """

    return sync_detailed(
        namespace=namespace,
        client=client,
        limit=limit,
        marker=marker,
        name=name,
    ).parsed


async def asyncio_detailed(
    namespace: str,
    *,
    client: AuthenticatedClient,
    limit: int | Unset = 100,
    marker: str | Unset = UNSET,
    name: str | Unset = UNSET,
) -> Response[Error | OfficialImagePage]:
    """List official images (查询官方镜像列表)

     The official images of one organisation (namespace), ordered by name, `limit` at a time.
    To read them all, send each page's `nextMarker` as the next request's `marker`; the
    last page has no `nextMarker`.

    Names are ordered byte by byte (`-` < `.` < `/` < digits < `_` < letters, whatever the
    database's locale), and a nested name's `/` is written as `$` in `marker`, in `name`
    and in `nextMarker`, as in the image path. Paging is by key, not by offset: a page
    costs the same at the start and at the end of a catalog, and a walk through all pages
    while an import runs returns every image that existed before and after it exactly
    once.

    No total count is given: it would cost a count of the whole namespace on every page,
    where a page reads only its own images from the index.

    An organisation without images, or a `name` that no image starts with, gives an empty
    page (200), not a 404.

    Args:
        namespace (str):
        limit (int | Unset):  Default: 100.
        marker (str | Unset):
        name (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Error | OfficialImagePage]
    """

    kwargs = _get_kwargs(
        namespace=namespace,
        limit=limit,
        marker=marker,
        name=name,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    namespace: str,
    *,
    client: AuthenticatedClient,
    limit: int | Unset = 100,
    marker: str | Unset = UNSET,
    name: str | Unset = UNSET,
) -> Error | OfficialImagePage | None:
    """List official images (查询官方镜像列表)

     The official images of one organisation (namespace), ordered by name, `limit` at a time.
    To read them all, send each page's `nextMarker` as the next request's `marker`; the
    last page has no `nextMarker`.

    Names are ordered byte by byte (`-` < `.` < `/` < digits < `_` < letters, whatever the
    database's locale), and a nested name's `/` is written as `$` in `marker`, in `name`
    and in `nextMarker`, as in the image path. Paging is by key, not by offset: a page
    costs the same at the start and at the end of a catalog, and a walk through all pages
    while an import runs returns every image that existed before and after it exactly
    once.

    No total count is given: it would cost a count of the whole namespace on every page,
    where a page reads only its own images from the index.

    An organisation without images, or a `name` that no image starts with, gives an empty
    page (200), not a 404.

    Args:
        namespace (str):
        limit (int | Unset):  Default: 100.
        marker (str | Unset):
        name (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Error | OfficialImagePage
    """

    return (
        await asyncio_detailed(
            namespace=namespace,
            client=client,
            limit=limit,
            marker=marker,
            name=name,
        )
    ).parsed
