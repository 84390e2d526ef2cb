"""Schemas of every client → server event. Unknown fields and wrong types are refused."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from rooms.presence import MAX_STATUS_TEXT
from server.infra.wire import MAX_ID


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


Id = Annotated[int, Field(ge=1, le=MAX_ID)]
RequestId = Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class Empty(Payload):
    """No fields."""


class SetPresence(Payload):
    status: Literal["available", "busy", "away", "do_not_disturb"]
    text: Annotated[str, Field(max_length=MAX_STATUS_TEXT)] | None = None


class SetIdle(Payload):
    idle: bool


class EnterRoom(Payload):
    room_id: Id


class SetPosition(Payload):
    x: Annotated[int, Field(ge=0, le=1000)]
    y: Annotated[int, Field(ge=0, le=1000)]


class AnswerRequest(Payload):
    request_id: RequestId
    accept: bool


class CancelRequest(Payload):
    request_id: RequestId


class GetPerson(Payload):
    user_id: Id


ClientId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Seq = Annotated[int, Field(ge=0, le=MAX_ID)]


class ChatRoom(Payload):
    room_id: Id


class ChatOpenDirect(Payload):
    user_ids: list[Id] = Field(min_length=1, max_length=7)


class ChatSend(Payload):
    conversation_id: Id
    client_id: ClientId
    # Length is checked by the service (too_large past 4000 characters); this only bounds
    # what is parsed at all.
    body: Annotated[str, Field(max_length=20_000)]
    mentions: list[Id] = Field(default_factory=list, max_length=20)


class ChatHistory(Payload):
    conversation_id: Id
    before_seq: Seq | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 50


class Cursor(Payload):
    conversation_id: Id
    after_seq: Seq


class ChatSync(Payload):
    cursors: list[Cursor] = Field(max_length=200)


class ChatRead(Payload):
    conversation_id: Id
    seq: Seq


class ChatEdit(Payload):
    message_id: Id
    body: Annotated[str, Field(max_length=20_000)]


class ChatDelete(Payload):
    message_id: Id


class ChatTyping(Payload):
    conversation_id: Id


Sdp = Annotated[str, Field(min_length=3, max_length=64 * 1024)]
PeerId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z]+-[0-9]+-[0-9a-f]+$")]
Source = Literal["camera", "screen"]


class MediaJoin(Payload):
    # Video codecs this tab can receive; omitted: whatever the relay forwards. Only a
    # publisher whose codec is missing here is transcoded for this tab.
    video_codecs: (
        Annotated[list[Literal["VP8", "H264"]], Field(min_length=1, max_length=2)] | None
    ) = None


class MediaPublish(Payload):
    source: Source
    sdp: Sdp


class MediaUnpublish(Payload):
    source: Source


class MediaAnswer(Payload):
    peer_id: PeerId
    sdp: Sdp


class MediaState(Payload):
    """What the tab says of its own microphone and camera, for the others' tiles."""

    muted: bool
    camera_off: bool
