"""The live-session core: every rule, with no sockets (tests/live/harness.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backend.live.protocol import (
    CLOSE_ABUSE,
    CLOSE_BANNED,
    CLOSE_FULL,
    CLOSE_KICKED,
    CLOSE_NOT_LIVE,
    CLOSE_REPLACED,
    CLOSE_TRY_AGAIN,
    FRAME_CAMERA,
    FRAME_POSE,
    Hello,
    Pose,
    encode_client_frame,
)
from backend.live.room import RoomConfig, Tier
from backend.live.tokens import JoinClaims, Role
from tests.live.harness import RoomHarness


def pose_at(east_m: float, north_m: float = 0.0) -> Pose:
    return Pose.from_metres((east_m, north_m, 1.7), (0.0, 0.0, 0.0, 1.0))


def test_welcome_carries_identity_state_presence_and_recent_chat():
    room = RoomHarness()
    host = room.join("Mina", Role.HOST)
    room.send(host, type="chat", text="어서 오세요")

    visitor = room.join("Tom")

    [welcome] = room.frames(visitor, "welcome")
    assert welcome["you"] == {
        "id": room.member_id(visitor),
        "name": "Tom",
        "role": "attendee",
        "tier": "avatar",
    }
    assert welcome["session"] == {"id": "scene:talk", "status": "live", "epoch": "e1", "seq": 1}
    assert [m["name"] for m in welcome["presence"]["members"]] == ["Mina", "Tom"]
    assert [c["text"] for c in welcome["chat"]] == ["어서 오세요"]
    assert "recovered" not in welcome  # only answered when the client asked to resume


def test_chat_reaches_everyone_with_increasing_seq():
    room = RoomHarness()
    a, b = room.join("A"), room.join("B")

    room.send(a, type="chat", text="first")
    room.send(b, type="chat", text="second")

    for conn in (a, b):
        chats = room.frames(conn, "chat")
        assert [(c["seq"], c["text"], c["from"]["name"]) for c in chats] == [
            (1, "first", "A"),
            (2, "second", "B"),
        ]


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "bad_json"),
        ('{"no": "type"}', "bad_message"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": "chat", "text": ""}', "bad_message"),
        ('{"type": "chat", "text": "' + "x" * 501 + '"}', "too_long"),
        ('{"type": "react", "emoji": "💩"}', "bad_message"),
        ('{"type": "poll.vote", "poll": "one", "option": 0}', "bad_message"),
    ],
)
def test_bad_frames_get_an_error_frame_for_the_sender_only(raw: str, code: str):
    room = RoomHarness()
    sender, other = room.join("S"), room.join("O")
    before = len(room.inbox[other])

    room.send_raw(sender, raw)

    assert room.frames(sender, "error")[-1]["code"] == code
    assert len(room.inbox[other]) == before
    assert room.room.seq == 0
    assert sender not in room.closed


def test_attendees_cannot_use_staff_commands():
    room = RoomHarness()
    visitor = room.join("V")

    room.send(visitor, type="poll.open", question="Q?", options=["a", "b"])
    room.send(visitor, type="spotlight", poi="gijang:boriam")
    room.send(visitor, type="moderate", action="ban", member=1)

    assert [e["code"] for e in room.frames(visitor, "error")] == ["forbidden"] * 3
    assert room.room.participation.polls == {}
    assert room.room.spotlight is None


def test_capacity_is_enforced_and_the_overflow_joins_as_spectators():
    room = RoomHarness(capacity=2, config=RoomConfig(overflow_capacity=1))
    first, second = room.join("1"), room.join("2")
    spectator = room.join("3")
    refused = room.join("4")
    guide = room.join("Guide", Role.GUIDE)  # staff are never locked out of their own event

    assert room.room.by_conn[first].tier is Tier.AVATAR
    assert room.room.by_conn[second].tier is Tier.AVATAR
    assert room.frames(spectator, "welcome")[0]["you"]["tier"] == "spectator"
    assert room.closed[refused][0] == CLOSE_FULL
    assert room.room.by_conn[guide].tier is Tier.AVATAR


def test_a_place_freed_by_a_leaver_is_given_to_the_next():
    room = RoomHarness(capacity=1, config=RoomConfig(overflow_capacity=0))
    first = room.join("1")
    assert room.closed[room.join("2")][0] == CLOSE_FULL

    room.leave(first)
    third = room.join("3")

    assert third not in room.closed


def test_spectators_get_chat_and_polls_but_cannot_move_an_avatar():
    room = RoomHarness(capacity=1)
    host = room.join("Host", Role.HOST)
    room.join("full")
    spectator = room.join("late")

    room.send(host, type="poll.open", question="Which plan?", options=["A", "B"])
    room.send(spectator, type="poll.vote", poll=1, option=1)
    room.send_binary(spectator, encode_client_frame(FRAME_POSE, pose_at(0)))

    assert room.frames(spectator, "poll.tally")[-1]["tally"] == [0, 1]
    assert room.frames(spectator, "error")[-1]["code"] == "no_avatar"


def test_a_second_connection_of_the_same_member_replaces_the_first():
    room = RoomHarness()
    old = room.join("Tom", member_id=7)

    new = room.join("Tom", member_id=7)

    assert room.closed[old][0] == CLOSE_REPLACED
    assert room.room.members[7].conn == new
    assert room.room._presence_snapshot()["count"] == 1


def test_polls_count_one_vote_per_attendee_and_refuse_votes_once_closed():
    room = RoomHarness()
    host = room.join("Host", Role.HOST)
    voter = room.join("V")
    room.send(host, type="poll.open", question="Keep the pine grove?", options=["yes", "no"])

    room.send(voter, type="poll.vote", poll=1, option=0)
    room.send(voter, type="poll.vote", poll=1, option=1)
    room.send(voter, type="poll.vote", poll=1, option=5)
    room.send(host, type="poll.close", poll=1)
    room.send(host, type="poll.vote", poll=1, option=1)

    assert room.room.participation.polls[1].public()["tally"] == [1, 0]
    assert [e["code"] for e in room.frames(voter, "error")] == ["already_voted", "bad_option"]
    assert room.frames(host, "error")[-1]["code"] == "poll_closed"
    assert room.frames(voter, "poll.closed")[0]["poll"]["tally"] == [1, 0]


def test_questions_are_upvoted_once_each_and_answered_by_the_host():
    room = RoomHarness()
    host = room.join("Host", Role.HOST)
    asker, fan = room.join("A"), room.join("F")
    room.send(asker, type="question.ask", text="When does the tram open?")

    room.send(fan, type="question.upvote", question=1)
    room.send(fan, type="question.upvote", question=1)
    room.send(asker, type="question.answer", question=1)
    room.send(host, type="question.answer", question=1)

    assert room.frames(fan, "question.upvoted")[-1]["upvotes"] == 1
    assert room.frames(fan, "error")[-1]["code"] == "already_upvoted"
    assert room.frames(asker, "error")[-1]["code"] == "forbidden"
    assert room.frames(fan, "question.answered")[0]["question"] == 1
    assert room.frames(room.join("late"), "welcome")[0]["questions"] == []


def test_a_muted_attendee_cannot_chat_or_ask_and_everyone_else_carries_on():
    room = RoomHarness()
    moderator = room.join("Mod", Role.MODERATOR)
    troll, other = room.join("T"), room.join("O")

    room.send(
        moderator, type="moderate", action="mute", member=room.member_id(troll), reason="spam"
    )
    room.send(troll, type="chat", text="buy now")
    room.send(troll, type="question.ask", text="buy now?")
    room.send(other, type="chat", text="hello")

    assert [e["code"] for e in room.frames(troll, "error")] == ["muted", "muted"]
    assert [c["text"] for c in room.frames(other, "chat")] == ["hello"]
    assert room.records[0]["action"] == "mute"
    assert room.records[0]["reason"] == "spam"


def test_kick_closes_the_connection_and_ban_also_refuses_it_at_connect_and_resume():
    room = RoomHarness()
    host = room.join("Host", Role.HOST)
    kicked = room.join("K", member_id=5)
    banned = room.join("B", member_id=6)

    room.send(host, type="moderate", action="kick", member=5)
    room.send(host, type="moderate", action="ban", member=6)
    back = room.join("K", member_id=5)
    again = room.join("B", member_id=6, resume=("e1", 0))

    assert room.closed[kicked][0] == CLOSE_KICKED
    assert back not in room.closed
    assert room.closed[banned][0] == CLOSE_BANNED
    assert room.closed[again][0] == CLOSE_BANNED
    assert [r["action"] for r in room.records] == ["kick", "ban"]


def test_staff_cannot_be_moderated_from_inside_the_session():
    room = RoomHarness()
    moderator = room.join("Mod", Role.MODERATOR)
    room.join("Host", Role.HOST, member_id=9)

    room.send(moderator, type="moderate", action="ban", member=9)

    assert room.frames(moderator, "error")[-1]["code"] == "forbidden"
    assert 9 not in room.room.banned


def test_a_resuming_client_gets_exactly_what_it_missed():
    room = RoomHarness()
    talker = room.join("T")
    listener = room.join("L", member_id=50)
    room.send(talker, type="chat", text="one")
    seen = room.frames(listener, "chat")[-1]["seq"]
    room.leave(listener)
    room.send(talker, type="chat", text="two")
    room.send(talker, type="chat", text="three")

    back = room.join("L", member_id=50, resume=("e1", seen))

    welcome = room.frames(back, "welcome")[0]
    assert welcome["recovered"] is True
    replayed = [f for f in room.frames(back) if f["type"] == "chat"]
    assert [(c["seq"], c["text"]) for c in replayed] == [(2, "two"), (3, "three")]


@pytest.mark.parametrize("resume", [("another-epoch", 1), ("e1", 99)])
def test_a_resume_that_cannot_be_exact_says_recovered_false(resume: tuple[str, int]):
    room = RoomHarness()
    talker = room.join("T")
    room.send(talker, type="chat", text="one")

    back = room.join("L", resume=resume)

    welcome = room.frames(back, "welcome")[0]
    assert welcome["recovered"] is False
    assert [c["text"] for c in welcome["chat"]] == ["one"]  # re-synced from the snapshot


def test_a_resume_older_than_the_history_says_recovered_false():
    room = RoomHarness(config=RoomConfig(history=2))
    talker = room.join("T")
    for text in ("1", "2", "3", "4"):
        room.send(talker, type="chat", text=text)

    back = room.join("L", resume=("e1", 1))

    assert room.frames(back, "welcome")[0]["recovered"] is False


def test_nothing_is_accepted_after_the_session_ended():
    room = RoomHarness()
    visitor = room.join("V")

    room.run(room.room.apply({"kind": "status", "status": "ended"}))
    late = room.join("late")
    room.run(
        room.room.apply(
            {
                "kind": "chat",
                "by": {"id": 1, "name": "x", "role": "attendee", "tier": "avatar"},
                "text": "in flight",
                "ts": 1.0,
            }
        )
    )

    assert room.frames(visitor, "status")[0]["status"] == "ended"
    assert room.closed[visitor][0] == CLOSE_NOT_LIVE
    assert room.closed[late][0] == CLOSE_NOT_LIVE
    assert room.frames(visitor, "chat") == []


def test_a_scheduled_session_refuses_connections():
    room = RoomHarness(status="scheduled")

    conn = room.join("early")

    assert room.closed[conn][0] == CLOSE_NOT_LIVE


def test_chat_floods_are_refused_then_the_connection_closed():
    room = RoomHarness()
    flooder, other = room.join("F"), room.join("O")

    for i in range(60):
        room.send(flooder, type="chat", text=f"spam {i}")

    assert len(room.frames(other, "chat")) == 5  # the burst allowance
    assert [e["code"] for e in room.frames(flooder, "error")] == ["rate_limited"]  # told once
    assert room.closed[flooder][0] == CLOSE_ABUSE
    assert other not in room.closed


def test_reactions_are_coalesced_into_counts_per_tick():
    room = RoomHarness()
    a, b = room.join("A"), room.join("B")

    for conn in (a, b, a):
        room.send(conn, type="react", emoji="👏")
    room.send(b, type="react", emoji="🎉")
    room.tick()
    room.tick()

    assert room.frames(a, "reactions") == [{"type": "reactions", "counts": {"👏": 3, "🎉": 1}}]


def test_guide_camera_goes_out_at_once_then_latest_wins_in_the_tick_and_is_replayed_on_join():
    room = RoomHarness()
    guide = room.join("Guide", Role.GUIDE)
    visitor = room.join("V")

    room.send_binary(guide, encode_client_frame(FRAME_CAMERA, pose_at(10)))  # forwarded now
    room.send_binary(guide, encode_client_frame(FRAME_CAMERA, pose_at(15)))  # within 50 ms:
    room.send_binary(guide, encode_client_frame(FRAME_CAMERA, pose_at(20)))  # held, latest wins
    room.tick()
    room.tick()  # nothing moved: nothing sent
    late = room.join("late")

    cameras = [camera.position_m[0] for _, camera, _ in room.ticks(visitor)]
    assert cameras == [10.0, 20.0]
    assert room.frames(late, "welcome")[0]["guide"]["camera"]["position"][0] == 20.0


def test_the_camera_is_forwarded_at_once_again_after_the_rate_interval():
    room = RoomHarness()
    guide = room.join("Guide", Role.GUIDE)
    visitor = room.join("V")

    room.send_binary(guide, encode_client_frame(FRAME_CAMERA, pose_at(1)))
    room.now_s += 0.05
    room.send_binary(guide, encode_client_frame(FRAME_CAMERA, pose_at(2)))

    assert [camera.position_m[0] for _, camera, _ in room.ticks(visitor)] == [1.0, 2.0]


def test_only_the_host_or_a_guide_leads_the_camera():
    room = RoomHarness()
    visitor = room.join("V")

    room.send_binary(visitor, encode_client_frame(FRAME_CAMERA, pose_at(5)))

    assert room.frames(visitor, "error")[-1]["code"] == "forbidden"
    assert room.room.crowd.camera is None


def test_each_avatar_gets_its_nearest_neighbours_every_tick_and_the_rest_less_often():
    config = RoomConfig(near_avatars=3, far_every_ticks=5)
    room = RoomHarness(capacity=50, config=config)
    conns = [room.join(f"a{i}", member_id=1000 + i) for i in range(20)]
    for i, conn in enumerate(conns):
        room.send_binary(conn, encode_client_frame(FRAME_POSE, pose_at(i * 10.0)))

    for _ in range(5):
        room.tick()

    frames = room.ticks(conns[0])
    assert len(frames) == 5  # one aggregated frame per tick, never one per avatar
    seen_every_tick = set.intersection(*(set(a["member"].tolist()) for _, _, a in frames))
    assert seen_every_tick == {1001, 1002, 1003}  # the three nearest
    seen_at_all = set.union(*(set(a["member"].tolist()) for _, _, a in frames))
    assert seen_at_all == {1000 + i for i in range(1, 20)}  # the far ones at 1/5 rate
    assert all(1000 not in a["member"] for _, _, a in frames)  # never yourself


def test_large_rooms_send_presence_counts_not_names():
    room = RoomHarness(capacity=500, config=RoomConfig(large_room=3))
    first = room.join("0")
    room.tick()
    for i in range(4):
        room.join(str(i + 1))
    room.tick()

    presence = room.frames(first, "presence")[-1]
    assert presence["count"] == 5
    assert "joined" not in presence
    assert "members" not in presence


def test_scene_switch_and_spotlight_reach_everyone_and_new_joiners():
    room = RoomHarness()
    guide = room.join("Guide", Role.GUIDE)
    visitor = room.join("V")

    room.send(guide, type="scene.switch", scenario="plan-a-2030")
    room.send(guide, type="spotlight", poi="gokseong:train-village")

    assert room.frames(visitor, "scene")[0]["scene"] == {"scenario": "plan-a-2030"}
    welcome = room.frames(room.join("late"), "welcome")[0]
    assert welcome["guide"]["spotlight"] == "gokseong:train-village"
    assert welcome["guide"]["scene"] == {"scenario": "plan-a-2030"}


def test_a_lost_history_starts_a_new_epoch_and_asks_clients_to_resume():
    room = RoomHarness()
    visitor = room.join("V")
    room.send(visitor, type="chat", text="kept")

    room.run(room.room.apply({"kind": "epoch", "epoch": "e2"}))
    back = room.join("V2", resume=("e1", 1))

    assert room.closed[visitor][0] == CLOSE_TRY_AGAIN
    welcome = room.frames(back, "welcome")[0]
    assert welcome["recovered"] is False
    assert welcome["session"]["epoch"] == "e2"
    assert welcome["session"]["seq"] == 0
    assert [c["text"] for c in welcome["chat"]] == ["kept"]  # the snapshot still has it


def test_another_instances_avatars_camera_and_reactions_arrive_through_its_state():
    here = RoomHarness(instance="here")
    there = RoomHarness(instance="there")
    viewer = here.join("Viewer")
    guide = there.join("Guide", Role.GUIDE, member_id=77)
    there.send_binary(guide, encode_client_frame(FRAME_POSE, pose_at(30)))
    there.send_binary(guide, encode_client_frame(FRAME_CAMERA, pose_at(31)))
    there.send(guide, type="react", emoji="🎉")
    there.tick()

    here.run(here.room.receive_state("there", there.shared[-1]))
    here.tick()

    [(_, camera, avatars)] = here.ticks(viewer)
    assert avatars["member"].tolist() == [77]
    assert camera is not None
    assert camera.position_m[0] == 31.0
    assert here.frames(viewer, "reactions")[-1]["counts"] == {"🎉": 1}


def test_members_of_an_instance_that_went_silent_are_dropped():
    room = RoomHarness(instance="here", config=RoomConfig(instance_timeout_s=1.0, tick_hz=10.0))
    local = room.join("Local")
    room.run(
        room.room.apply(
            {
                "kind": "join",
                "member": {"id": 5, "name": "Far", "role": "attendee", "tier": "avatar"},
                "instance": "there",
            }
        )
    )
    room.run(room.room.receive_state("there", b'{"tick": 1, "reactions": {}}\n'))

    for _ in range(12):
        room.tick()

    assert 5 not in room.room.members
    assert room.frames(local, "presence")[-1]["count"] == 1


def test_a_seat_given_by_the_hub_overrides_the_rooms_own_count():
    room = RoomHarness(capacity=1)
    room.join("first")
    expires = datetime.now(UTC) + timedelta(hours=1)
    claims = JoinClaims("scene:talk", 42, "B", Role.ATTENDEE, expires)

    room.run(room.room.connect(99, claims, Hello("t", None, None, None), room.now_s, Tier.AVATAR))

    assert room.frames(99, "welcome")[0]["you"]["tier"] == "avatar"  # the hub's atomic seat
