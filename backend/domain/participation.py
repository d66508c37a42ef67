"""Public participation: comments pinned to a place, a scenario version and a date.

Rules only: what a comment may say (length, links, profanity), who sees it (moderation
queue: pending → approved or rejected, before or after publication per scene), and when a
retried create is the same request (idempotency). Storage and transport live elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import Enum
from typing import Any

from backend.domain.errors import Conflict, IllegalTransition, InvalidValue
from backend.domain.geo import GeoPoint

MAX_COMMENT_CHARS = 2000
MAX_NAME_CHARS = 40
MAX_LINKS = 1
MAX_REASON_CHARS = 300
_LINK = re.compile(r"(https?://|www\.)\S+", re.IGNORECASE)
# A deliberately small list (Korean and English slurs and obscenities) applied after
# folding case, width and spacing, so "씨 발" and "Ｆｕｃｋ" match too. Counties extend it
# through configuration; a moderator remains the judge of everything else.
PROFANITY = ("씨발", "시발", "ㅅㅂ", "병신", "개새끼", "좆", "fuck", "shit", "bitch", "cunt")


class ModerationMode(str, Enum):
    PRE = "pre"  # comments wait for a moderator before anyone else sees them
    POST = "post"  # comments show at once; moderators can reject them afterwards


class Reaction(str, Enum):
    """How a visitor reacts to a comment; one of each per visitor and comment."""

    AGREE = "agree"
    DISAGREE = "disagree"
    HELPFUL = "helpful"


class CommentStatus(str, Enum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class IdempotencyConflict(Conflict):
    """The idempotency key was used before with a different request body."""

    code = "idempotency_conflict"


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where a comment is pinned: a place, a POI of the scene, or both."""

    location: GeoPoint | None
    poi_id: str | None

    def __post_init__(self) -> None:
        if self.location is None and self.poi_id is None:
            raise InvalidValue("anchor", "pin the comment to a location or a POI")


@dataclass(frozen=True, slots=True)
class Comment:
    id: str
    scene_slug: str
    scenario_id: str | None
    scenario_version: int | None
    anchor: Anchor
    on_date: date | None  # a date on the scenario's timeline
    parent_id: str | None  # a reply to this comment
    body: str
    author_id: str  # the visitor id, or "organiser"
    author_name: str | None
    official: bool  # written by an organiser: an official reply
    status: CommentStatus
    created_at: datetime
    moderated_at: datetime | None = None
    rejection_reason: str | None = None


def clean_body(text: str) -> str:
    """The comment as stored: trimmed, NFC; refused when empty, too long, with too many
    links or with profanity. The field is named in each error."""
    body = unicodedata.normalize("NFC", text).strip()
    if not body:
        raise InvalidValue("body", "is empty")
    if len(body) > MAX_COMMENT_CHARS:
        raise InvalidValue("body", f"is longer than {MAX_COMMENT_CHARS} characters")
    links = _LINK.findall(body)
    if len(links) > MAX_LINKS:
        raise InvalidValue("body", f"has {len(links)} links; at most {MAX_LINKS} is allowed")
    if any(word in _folded(body) for word in PROFANITY):
        raise InvalidValue("body", "contains language that is not allowed")
    return body


def clean_name(name: str | None) -> str | None:
    if name is None:
        return None
    cleaned = unicodedata.normalize("NFC", name).strip()
    if not cleaned:
        return None
    if len(cleaned) > MAX_NAME_CHARS:
        raise InvalidValue("authorName", f"is longer than {MAX_NAME_CHARS} characters")
    if _LINK.search(cleaned) or any(word in _folded(cleaned) for word in PROFANITY):
        raise InvalidValue("authorName", "is not allowed")
    return cleaned


def _folded(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if ch.isalnum() or "\u3131" <= ch <= "\u318e")


def initial_status(mode: ModerationMode, official: bool) -> CommentStatus:
    """Organisers' official replies need no moderation; visitors' wait under PRE."""
    if official or mode is ModerationMode.POST:
        return CommentStatus.APPROVED
    return CommentStatus.PENDING


def moderate(comment: Comment, approve: bool, reason: str | None, now: datetime) -> Comment:
    """A moderator's decision. A rejection needs a reason (it is shown to the author);
    an approved comment can still be rejected later (post-moderation), not the reverse
    without a new decision."""
    if approve:
        if comment.status is CommentStatus.APPROVED:
            raise IllegalTransition("comment", comment.status.value, CommentStatus.APPROVED.value)
        return replace(
            comment, status=CommentStatus.APPROVED, moderated_at=now, rejection_reason=None
        )
    if comment.status is CommentStatus.REJECTED:
        raise IllegalTransition("comment", comment.status.value, CommentStatus.REJECTED.value)
    text = (reason or "").strip()
    if not text:
        raise InvalidValue("reason", "a rejection needs a reason")
    if len(text) > MAX_REASON_CHARS:
        raise InvalidValue("reason", f"is longer than {MAX_REASON_CHARS} characters")
    return replace(comment, status=CommentStatus.REJECTED, moderated_at=now, rejection_reason=text)


def request_hash(operation: str, payload: dict[str, Any]) -> str:
    """What identifies a request for idempotency: the operation and its canonical body."""
    canonical = json.dumps([operation, payload], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_idempotency_key(key: str) -> str:
    if not 8 <= len(key) <= 100 or not re.fullmatch(r"[A-Za-z0-9_.:-]+", key):
        raise InvalidValue("idempotencyKey", "8-100 characters of A-Z a-z 0-9 _ . : -")
    return key
