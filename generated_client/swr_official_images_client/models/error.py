from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="Error")


@_attrs_define
class Error:
    """SWR's error body. Huawei Cloud SDKs read `error_code` and `error_msg`, and the request
    id from the `X-Request-Id` header; `request_id` repeats it in the body.

        Attributes:
            error_code (str): SWR error code: `SVCSTG.SWR.4000014` invalid request parameter,
                `SVCSTG.SWR.4010000` authentication failed, `SVCSTG.SWR.4040010` image does not
                exist, `SVCSTG.SWR.4040000` no such resource, `SVCSTG.SWR.5000002` failed to get
                image information, `SVCSTG.SWR.5030000` not ready.
                 Example: SVCSTG.SWR.4040010.
            error_msg (str): A short English message; it never repeats more than a few characters of input.
            request_id (str): The request's id, as in the `X-Request-Id` response header.
    """

    error_code: str
    error_msg: str
    request_id: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        error_code = self.error_code

        error_msg = self.error_msg

        request_id = self.request_id

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "error_code": error_code,
                "error_msg": error_msg,
                "request_id": request_id,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        error_code = d.pop("error_code")

        error_msg = d.pop("error_msg")

        request_id = d.pop("request_id")

        error = cls(
            error_code=error_code,
            error_msg=error_msg,
            request_id=request_id,
        )

        error.additional_properties = d
        return error

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
