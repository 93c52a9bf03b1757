"""Request and response models of the accounts, tokens, share-link and saved-view routes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tricklab.schemas.api import ExperimentOut

Role = Literal["viewer", "member", "admin"]
TokenKind = Literal["personal", "worker"]
Username = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.@-]+$")


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)


class TokenLoginIn(BaseModel):
    token: str = Field(min_length=1, max_length=200)


class UserRef(BaseModel):
    id: int
    username: str


class TeamRef(BaseModel):
    id: int
    name: str


class MeOut(BaseModel):
    user: UserRef
    team: TeamRef
    role: Role
    auth: Literal["session", "personal", "worker"]
    # Only for cookie sessions: the dashboard echoes it in X-CSRF-Token on writes.
    csrf_token: str | None = None


class UserCreateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Username
    password: str | None = Field(default=None, min_length=8, max_length=1000)
    role: Role = "member"


class MemberOut(BaseModel):
    user_id: int
    username: str
    role: Role
    created_at: datetime


class RoleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role


class TokenCreateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(default="api token", min_length=1, max_length=100)
    kind: TokenKind = "personal"
    expires_in_days: float | None = Field(default=None, gt=0, le=3650)


class TokenOut(BaseModel):
    id: int
    name: str
    kind: TokenKind
    prefix: str
    user_id: int
    username: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="the raw token: shown once, never stored")


class ViewConfig(BaseModel):
    """What a saved comparison shows; the dashboard reads these keys, unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid")
    combinations: list[str] = Field(default_factory=list, max_length=1000)
    metric: str | None = Field(default=None, max_length=200)
    curve_key: str | None = Field(default=None, max_length=200)
    smoothing: float = Field(default=0.0, ge=0.0, lt=1.0)


class ViewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    config: ViewConfig = Field(default_factory=ViewConfig)


class ViewOut(BaseModel):
    id: int
    experiment_id: int
    name: str
    config: ViewConfig
    created_by: str | None
    created_at: datetime


class ShareCreateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    view_id: int | None = None
    expires_in_days: float | None = Field(default=30.0, gt=0, le=3650, description="null: never expires")


class ShareOut(BaseModel):
    id: int
    experiment_id: int
    view_id: int | None
    prefix: str
    created_by: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class ShareCreated(ShareOut):
    token: str = Field(description="the raw link token: shown once, never stored")
    url: str


class SharedOut(BaseModel):
    experiment: ExperimentOut
    view: ViewOut | None
    expires_at: datetime | None
