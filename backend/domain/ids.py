"""Slugs, keys and the qualified ids of scene-owned resources (``<scene-slug>:<key>``)."""

from __future__ import annotations

import re
import secrets

from backend.domain.errors import InvalidValue

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
_SEPARATOR = ":"


def validate_slug(field: str, value: str) -> str:
    """A slug or key: lowercase ASCII letters, digits and inner hyphens, 1..64 chars."""
    if not _SLUG.match(value):
        raise InvalidValue(
            field, f"{value!r} is not a slug (a-z, 0-9 and inner '-', at most 64 chars)"
        )
    return value


def qualified_id(scene_slug: str, key: str) -> str:
    """The public id of a POI, tour or live session: unique across all scenes."""
    return f"{scene_slug}{_SEPARATOR}{key}"


def split_qualified_id(field: str, value: str) -> tuple[str, str]:
    """``"gijang-osiria:haedong-yonggungsa"`` → ``("gijang-osiria", "haedong-yonggungsa")``."""
    scene_slug, sep, key = value.partition(_SEPARATOR)
    if not sep:
        raise InvalidValue(field, f"{value!r} is not an id of the form '<scene-slug>:<key>'")
    return validate_slug(field, scene_slug), validate_slug(field, key)


def new_key(prefix: str) -> str:
    """A fresh random key for resources created through the API (e.g. ``poi-k3j9x0q2m1``)."""
    alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
    return prefix + "-" + "".join(secrets.choice(alphabet) for _ in range(10))
