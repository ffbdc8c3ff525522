from http import HTTPStatus
from typing import Any, cast
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
    if_none_match: str | Unset = UNSET,
    if_modified_since: str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(if_none_match, Unset):
        headers["If-None-Match"] = if_none_match

    if not isinstance(if_modified_since, Unset):
        headers["If-Modified-Since"] = if_modified_since

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

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Any | Error | OfficialImagePage | None:
    if response.status_code == 200:
        response_200 = OfficialImagePage.from_dict(response.json())

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
) -> Response[Any | Error | OfficialImagePage]:
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
    if_none_match: str | Unset = UNSET,
    if_modified_since: str | Unset = UNSET,
) -> Response[Any | Error | OfficialImagePage]:
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

    A page is revalidated as an image is: its 200 carries a strong `ETag` of the exact body
    (it changes when any image on the page, the page's membership or its `nextMarker`
    does) and, unless the page is empty, a `Last-Modified` (the latest change this service
    made to the images it read for the page). `If-None-Match` with the `ETag`, or
    `If-Modified-Since` with the `Last-Modified`, answers 304 without a body while the
    page is unchanged (`Cache-Control: private, no-cache`).

    Args:
        namespace (str):
        limit (int | Unset):  Default: 100.
        marker (str | Unset):
        name (str | Unset):
        if_none_match (str | Unset):
        if_modified_since (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | Error | OfficialImagePage]
    """

    kwargs = _get_kwargs(
        namespace=namespace,
        limit=limit,
        marker=marker,
        name=name,
        if_none_match=if_none_match,
        if_modified_since=if_modified_since,
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
    if_none_match: str | Unset = UNSET,
    if_modified_since: str | Unset = UNSET,
) -> Any | Error | OfficialImagePage | None:
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

    A page is revalidated as an image is: its 200 carries a strong `ETag` of the exact body
    (it changes when any image on the page, the page's membership or its `nextMarker`
    does) and, unless the page is empty, a `Last-Modified` (the latest change this service
    made to the images it read for the page). `If-None-Match` with the `ETag`, or
    `If-Modified-Since` with the `Last-Modified`, answers 304 without a body while the
    page is unchanged (`Cache-Control: private, no-cache`).

    Args:
        namespace (str):
        limit (int | Unset):  Default: 100.
        marker (str | Unset):
        name (str | Unset):
        if_none_match (str | Unset):
        if_modified_since (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | Error | OfficialImagePage
    """

    return sync_detailed(
        namespace=namespace,
        client=client,
        limit=limit,
        marker=marker,
        name=name,
        if_none_match=if_none_match,
        if_modified_since=if_modified_since,
    ).parsed


async def asyncio_detailed(
    namespace: str,
    *,
    client: AuthenticatedClient,
    limit: int | Unset = 100,
    marker: str | Unset = UNSET,
    name: str | Unset = UNSET,
    if_none_match: str | Unset = UNSET,
    if_modified_since: str | Unset = UNSET,
) -> Response[Any | Error | OfficialImagePage]:
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

    A page is revalidated as an image is: its 200 carries a strong `ETag` of the exact body
    (it changes when any image on the page, the page's membership or its `nextMarker`
    does) and, unless the page is empty, a `Last-Modified` (the latest change this service
    made to the images it read for the page). `If-None-Match` with the `ETag`, or
    `If-Modified-Since` with the `Last-Modified`, answers 304 without a body while the
    page is unchanged (`Cache-Control: private, no-cache`).

    Args:
        namespace (str):
        limit (int | Unset):  Default: 100.
        marker (str | Unset):
        name (str | Unset):
        if_none_match (str | Unset):
        if_modified_since (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | Error | OfficialImagePage]
    """

    kwargs = _get_kwargs(
        namespace=namespace,
        limit=limit,
        marker=marker,
        name=name,
        if_none_match=if_none_match,
        if_modified_since=if_modified_since,
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
    if_none_match: str | Unset = UNSET,
    if_modified_since: str | Unset = UNSET,
) -> Any | Error | OfficialImagePage | None:
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

    A page is revalidated as an image is: its 200 carries a strong `ETag` of the exact body
    (it changes when any image on the page, the page's membership or its `nextMarker`
    does) and, unless the page is empty, a `Last-Modified` (the latest change this service
    made to the images it read for the page). `If-None-Match` with the `ETag`, or
    `If-Modified-Since` with the `Last-Modified`, answers 304 without a body while the
    page is unchanged (`Cache-Control: private, no-cache`).

    Args:
        namespace (str):
        limit (int | Unset):  Default: 100.
        marker (str | Unset):
        name (str | Unset):
        if_none_match (str | Unset):
        if_modified_since (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | Error | OfficialImagePage
    """

    return (
        await asyncio_detailed(
            namespace=namespace,
            client=client,
            limit=limit,
            marker=marker,
            name=name,
            if_none_match=if_none_match,
            if_modified_since=if_modified_since,
        )
    ).parsed
