"""The storage the dialogue needs for cases, transcripts and erasure (bot.storage.records.Records
provides it)."""

from __future__ import annotations

from typing import Protocol

from bot.domain import Author, CaseDraft, CaseView


class ParentCases(Protocol):
    async def open_case(self, draft: CaseDraft) -> CaseView: ...

    async def parent_reply(self, case_id: int, text: str, *, urgent: bool = False) -> bool: ...

    async def parent_cases(self, parent_id: str) -> list[CaseView]: ...

    async def get(self, case_id: int) -> CaseView | None: ...


class Transcript(Protocol):
    async def record(self, parent_id: str, lines: list[tuple[Author, str]]) -> None: ...


class Forgetting(Protocol):
    async def forget_parent(self, parent_id: str) -> None: ...


class ParentRecords(Protocol):
    """Storage the engine needs (bot.storage.records.Records provides it)."""

    @property
    def cases(self) -> ParentCases: ...

    @property
    def transcripts(self) -> Transcript: ...

    @property
    def retention(self) -> Forgetting: ...
