from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="OfficialImage")


@_attrs_define
class OfficialImage:
    """The details of one official image.

    Attributes:
        id (int): Identifier of the image record.
        user (str): User name (用户名称).
        namespace (str): Organisation name (组织名称).
        description (str): Short description, used in list views (介绍描述).
        full_description (str): Full description (具体描述).
        star_count (int): Times the image was starred (收藏次数).
        pull_count (int): Times the image was pulled (拉取次数).
        collection_id (int): Identifier of the starred (collected) image (收藏的镜像id); 0 when none.
        last_updated (str): Time of the last update (最新更新时间), UTC, as `YYYY-MM-DD HH:MM:SS`. Example: 2017-10-16
            21:33:44.
        name (str | Unset): Image name (镜像名称); not empty when the record is an image.
    """

    id: int
    user: str
    namespace: str
    description: str
    full_description: str
    star_count: int
    pull_count: int
    collection_id: int
    last_updated: str
    name: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        user = self.user

        namespace = self.namespace

        description = self.description

        full_description = self.full_description

        star_count = self.star_count

        pull_count = self.pull_count

        collection_id = self.collection_id

        last_updated = self.last_updated

        name = self.name

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "user": user,
                "namespace": namespace,
                "description": description,
                "full_description": full_description,
                "star_count": star_count,
                "pull_count": pull_count,
                "collection_id": collection_id,
                "last_updated": last_updated,
            }
        )
        if name is not UNSET:
            field_dict["name"] = name

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        user = d.pop("user")

        namespace = d.pop("namespace")

        description = d.pop("description")

        full_description = d.pop("full_description")

        star_count = d.pop("star_count")

        pull_count = d.pop("pull_count")

        collection_id = d.pop("collection_id")

        last_updated = d.pop("last_updated")

        name = d.pop("name", UNSET)

        official_image = cls(
            id=id,
            user=user,
            namespace=namespace,
            description=description,
            full_description=full_description,
            star_count=star_count,
            pull_count=pull_count,
            collection_id=collection_id,
            last_updated=last_updated,
            name=name,
        )

        official_image.additional_properties = d
        return official_image

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
