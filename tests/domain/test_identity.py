import pytest

from backend.domain.errors import InvalidValue, NotAuthorized
from backend.domain.identity import (
    Action,
    Grant,
    Principal,
    Role,
    check_email,
    check_password,
    require,
)


def principal(*grants: str) -> Principal:
    return Principal("account:x", "account", "x@example.org", tuple(map(Grant.parse, grants)))


def test_grants_parse_roles_with_or_without_a_scene() -> None:
    assert Grant.parse("organiser:gokseong") == Grant(Role.ORGANISER, "gokseong")
    assert Grant.parse(" moderator ") == Grant(Role.MODERATOR, None)
    assert str(Grant.parse("content:jeju-seongsan")) == "content:jeju-seongsan"


@pytest.mark.parametrize(
    "text", ["owner:gokseong", "organiser:", "organiser:Gokseong", "admin:gokseong", ""]
)
def test_bad_grants_name_the_problem(text: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        Grant.parse(text, "grants[0]")
    assert caught.value.field == "grants[0]"


def test_an_organiser_may_act_on_their_scene_only() -> None:
    organiser = principal("organiser:gokseong")
    assert organiser.may(Action.EDIT_CONTENT, "gokseong")
    assert not organiser.may(Action.EDIT_CONTENT, "jeju-seongsan")
    assert not organiser.may(Action.EDIT_CONTENT, None)  # unscoped needs an all-scene grant
    assert not organiser.may(Action.MANAGE_IDENTITIES)


def test_a_moderator_moderates_but_does_not_edit_or_run_sessions() -> None:
    moderator = principal("moderator:jeju-seongsan")
    assert moderator.may(Action.MODERATE, "jeju-seongsan")
    assert not moderator.may(Action.EDIT_CONTENT, "jeju-seongsan")
    assert not moderator.may(Action.RUN_LIVE_SESSIONS, "jeju-seongsan")
    assert not moderator.may(Action.EXPORT, "jeju-seongsan")


def test_content_keys_publish_and_nothing_else() -> None:
    content = principal("content:gokseong")
    assert content.may(Action.PUBLISH, "gokseong")
    assert [a for a in Action if content.may(a, "gokseong")] == [
        Action.PUBLISH,
        Action.SEE_UNLISTED,
    ]


def test_admin_and_all_scene_grants_hold_everywhere() -> None:
    assert all(principal("admin").may(a, "anywhere") for a in Action)
    assert principal("organiser").may(Action.EDIT_CONTENT, "anywhere")
    assert principal("organiser").scenes_for(Action.EDIT_CONTENT) is None
    assert principal("organiser:a", "organiser:b").scenes_for(Action.EDIT_CONTENT) == {"a", "b"}
    assert principal("moderator:a").scenes_for(Action.PUBLISH) == frozenset()


def test_refusals_say_what_is_missing() -> None:
    with pytest.raises(NotAuthorized, match="needs a signed-in"):
        require(None, Action.EDIT_CONTENT, "gokseong")
    with pytest.raises(
        NotAuthorized, match="on scene 'gokseong' needs one of the roles: admin, organiser"
    ):
        require(principal("moderator:gokseong"), Action.EDIT_CONTENT, "gokseong")


def test_emails_are_folded_and_passwords_have_a_minimum_length() -> None:
    assert check_email("  Ada@Example.ORG ") == "ada@example.org"
    with pytest.raises(InvalidValue, match="email"):
        check_email("ada@")
    with pytest.raises(InvalidValue, match="12 to 256"):
        check_password("short")
