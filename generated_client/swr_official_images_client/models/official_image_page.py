from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.official_image import OfficialImage


T = TypeVar("T", bound="OfficialImagePage")


@_attrs_define
class OfficialImagePage:
    """A page of official images, ordered by name, and where the next page starts. No total
    count: it would cost a count of the whole namespace on every page.

        Attributes:
            repos (list[OfficialImage]): The page's images, at most `limit` of them; empty past the last image.
            next_marker (str | Unset): The `marker` that continues after this page (its last image's name, `/` written as
                `$`). Absent on the last page.
                 Example: nginx.
    """

    repos: list[OfficialImage]
    next_marker: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        repos = []
        for repos_item_data in self.repos:
            repos_item = repos_item_data.to_dict()
            repos.append(repos_item)

        next_marker = self.next_marker

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "repos": repos,
            }
        )
        if next_marker is not UNSET:
            field_dict["nextMarker"] = next_marker

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.official_image import OfficialImage  # noqa: PLC0415

        d = dict(src_dict)
        repos = []
        _repos = d.pop("repos")
        for repos_item_data in _repos:
            repos_item = OfficialImage.from_dict(repos_item_data)

            repos.append(repos_item)

        next_marker = d.pop("nextMarker", UNSET)

        official_image_page = cls(
            repos=repos,
            next_marker=next_marker,
        )

        official_image_page.additional_properties = d
        return official_image_page

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
