"""What every baseline shares: the database the service serves, and the answers it must give.

Plain SQLAlchemy Core on the service's own tables (reflected, as a user pointing an app at an
existing database would), the SWR error codes and messages the service answers with, and the
name patterns, read from openapi.yaml so that the baselines refuse what the service refuses.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import yaml
from sqlalchemy import MetaData, Table, create_engine, select

PATH = "/v2/manage/dockerhub/namespaces/{namespace}/repos/{repository}"
LIST_PATH = "/v2/manage/dockerhub/namespaces/{namespace}/repos"
SPEC_FILE = Path(__file__).resolve().parents[2] / "openapi.yaml"

INVALID_PARAMETER = "SVCSTG.SWR.4000014"
AUTHENTICATION_FAILED = "SVCSTG.SWR.4010000"
IMAGE_NOT_FOUND = "SVCSTG.SWR.4040010"
# Messages, not secrets.
TOKEN_MISSING = (
    "Authentication failed: neither an X-Auth-Token header nor an SDK-HMAC-SHA256 signature."  # noqa: S105
)
TOKEN_REFUSED = "Authentication failed: the token is unknown, expired or revoked."  # noqa: S105
NOT_FOUND = "Image does not exist."

_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
SECURITY_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}

engine = create_engine(os.environ["SWR_DATABASE_URL"])
_tables = MetaData()
images = Table("images", _tables, autoload_with=engine)
api_tokens = Table("api_tokens", _tables, autoload_with=engine)


@cache
def _components() -> dict:
    return yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))["components"]


def parameter_schema(name: str) -> dict:
    return _components()["parameters"][name]["schema"]


def fastapi_constraints(name: str) -> dict[str, object]:
    """The spec's constraints on a parameter, as FastAPI's `Path` and `Query` take them."""
    schema = parameter_schema(name)
    return {
        "min_length": schema["minLength"],
        "max_length": schema["maxLength"],
        "pattern": schema["pattern"],
    }


# The body's fields in the spec's order, which is the order the service writes them in.
IMAGE_FIELDS = tuple(_components()["schemas"]["OfficialImage"]["properties"])


def invalid_parameter(name: str) -> str:
    return f"Invalid path parameter '{name}': does not match the naming rules."


def token_is_valid(token: str) -> bool:
    digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
    query = select(api_tokens.c.expires_at, api_tokens.c.revoked_at).where(
        api_tokens.c.token_hash == digest
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    now = datetime.now(UTC).replace(tzinfo=None)
    return (
        row is not None
        and row.revoked_at is None
        and (row.expires_at is None or row.expires_at > now)
    )


def find_image(namespace: str, repository: str) -> dict[str, object] | None:
    """The image's API fields, or None; `$` in a path's name stands for `/`."""
    query = select(images).where(
        images.c.namespace == namespace, images.c.name == repository.replace("$", "/")
    )
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    if row is None:
        return None
    image = {field: row[field] for field in IMAGE_FIELDS}
    image["last_updated"] = row["last_updated"].strftime("%Y-%m-%d %H:%M:%S")
    return image


def list_images(
    namespace: str, limit: int, marker: str | None, prefix: str | None
) -> dict[str, object]:
    """A page as the list operation answers it: keyset on (namespace, name), a prefix as a
    range, one row more to know whether another page follows."""
    query = select(images).where(images.c.namespace == namespace)
    if marker is not None:
        query = query.where(images.c.name > marker.replace("$", "/"))
    if prefix is not None:
        low = prefix.replace("$", "/")
        query = query.where(images.c.name >= low, images.c.name < low[:-1] + chr(ord(low[-1]) + 1))
    query = query.order_by(images.c.name).limit(limit + 1)
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    repos = []
    for row in rows[:limit]:
        image = {field: row[field] for field in IMAGE_FIELDS}
        image["last_updated"] = row["last_updated"].strftime("%Y-%m-%d %H:%M:%S")
        repos.append(image)
    page: dict[str, object] = {"repos": repos}
    if len(rows) > limit:
        page["nextMarker"] = repos[-1]["name"].replace("/", "$")
    return page


def response_headers(request_id_header: str | None) -> dict[str, str]:
    """X-Request-Id (the caller's when it is plain, else a fresh one) and the security headers."""
    if request_id_header is None or not _SANE_REQUEST_ID.fullmatch(request_id_header):
        request_id_header = str(uuid.uuid4())
    return {"X-Request-Id": request_id_header, **SECURITY_HEADERS}


def error_body(code: str, message: str, headers: dict[str, str]) -> dict[str, str]:
    return {"error_code": code, "error_msg": message, "request_id": headers["X-Request-Id"]}
