"""Q&A and polls of one live session: state that every instance rebuilds by applying the
same ordered events. Pure: each change returns the frame everyone sees, or a
``Rejection`` for the member who asked (never both, never a partial change)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

Frame = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Rejection:
    code: str
    message: str


@dataclass(slots=True)
class Poll:
    id: int
    question: str
    options: list[str]
    votes: dict[int, int] = field(default_factory=dict)  # member → option
    open: bool = True

    def public(self) -> dict[str, Any]:
        tally = Counter(self.votes.values())
        return {
            "id": self.id,
            "question": self.question,
            "options": self.options,
            "tally": [tally.get(i, 0) for i in range(len(self.options))],
            "open": self.open,
        }


@dataclass(slots=True)
class Question:
    id: int
    text: str
    author: dict[str, Any]
    upvoters: set[int] = field(default_factory=set)
    answered: bool = False

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "from": self.author,
            "upvotes": len(self.upvoters),
            "answered": self.answered,
        }


class Participation:
    def __init__(self) -> None:
        self.polls: dict[int, Poll] = {}
        self.questions: dict[int, Question] = {}

    def open_questions(self) -> list[dict[str, Any]]:
        return [q.public() for q in self.questions.values() if not q.answered]

    def ask(self, author: dict[str, Any], text: str, ts: float) -> Frame:
        question = Question(len(self.questions) + 1, text, author)
        self.questions[question.id] = question
        return {"type": "question", "question": question.public(), "ts": ts}

    def upvote(self, question_id: int, voter: int) -> Frame | Rejection:
        question = self.questions.get(question_id)
        if question is None or question.answered:
            return Rejection("not_found", f"no open question {question_id}")
        if voter in question.upvoters:
            return Rejection("already_upvoted", "you upvoted this question already")
        question.upvoters.add(voter)
        return {
            "type": "question.upvoted",
            "question": question.id,
            "upvotes": len(question.upvoters),
        }

    def answer(self, question_id: int, by: dict[str, Any]) -> Frame | Rejection:
        question = self.questions.get(question_id)
        if question is None or question.answered:
            return Rejection("not_found", f"no open question {question_id}")
        question.answered = True
        return {"type": "question.answered", "question": question.id, "by": by}

    def open_poll(self, question: str, options: list[str]) -> Frame:
        poll = Poll(len(self.polls) + 1, question, list(options))
        self.polls[poll.id] = poll
        return {"type": "poll", "poll": poll.public()}

    def vote(self, poll_id: int, voter: int, option: int) -> Frame | Rejection:
        poll = self.polls.get(poll_id)
        if poll is None:
            return Rejection("not_found", f"no poll {poll_id}")
        if not poll.open:
            return Rejection("poll_closed", f"poll {poll.id} is closed")
        if not 0 <= option < len(poll.options):
            return Rejection("bad_option", f"poll {poll.id} has {len(poll.options)} options")
        if voter in poll.votes:
            return Rejection("already_voted", f"you voted in poll {poll.id} already")
        poll.votes[voter] = option
        # tallies travel with the ordered stream so every client sees the same numbers
        return {"type": "poll.tally", "poll": poll.id, "tally": poll.public()["tally"]}

    def close_poll(self, poll_id: int) -> Frame | Rejection:
        poll = self.polls.get(poll_id)
        if poll is None or not poll.open:
            return Rejection("not_found", f"no open poll {poll_id}")
        poll.open = False
        return {"type": "poll.closed", "poll": poll.public()}
