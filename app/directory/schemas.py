"""What the directory API reads and writes: lines, teams and agents."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.api.inputs import Language, RowId, refuse_nulls
from app.auth.roles import Role
from app.callbacks.policy import CallbackPolicy
from app.callbacks.policy_schemas import CallbackPolicyIn, CallbackPolicyOut
from app.models import Agent, Line, Team
from app.phone import display, normalise

ROLE_DOC = (
    "What the agent's widget shows: `agent` (the front desk: no contact notes, no sensitive "
    "notices), `supervisor` or `admin` (everything)"
)


class LineCreate(BaseModel):
    """A called number (DID) and where its calls belong."""

    model_config = ConfigDict(extra="forbid")

    number: str = Field(min_length=1, max_length=64, examples=["033 123 4567", "+31331234567"])
    label: str = Field(min_length=1, max_length=120, examples=["General number"])
    location: str | None = Field(default=None, max_length=120, examples=["Amersfoort"])
    team_id: RowId | None = Field(default=None, description="The team that answers it")
    callback_policy: CallbackPolicyIn | None = Field(
        default=None,
        description="When missed calls to this number are due to be called back; replaces "
        "the tenant's policy whole (null: the tenant's)",
    )


class LineUpdate(BaseModel):
    """Changes to a line: only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    number: str | None = Field(default=None, min_length=1, max_length=64)
    label: str | None = Field(default=None, min_length=1, max_length=120)
    location: str | None = Field(default=None, max_length=120)
    team_id: RowId | None = None
    callback_policy: CallbackPolicyIn | None = Field(
        default=None,
        description="When missed calls to this number are due to be called back; replaces "
        "the tenant's policy whole (null: the tenant's)",
    )

    @model_validator(mode="after")
    def _no_nulls(self) -> LineUpdate:
        refuse_nulls(self, ("number", "label"))
        return self


class LineOut(BaseModel):
    """A configured line."""

    id: int
    number_e164: str
    display: str
    label: str
    location: str | None
    team_id: int | None
    callback_policy: CallbackPolicyOut | None = Field(
        description="This line's own callback policy; null: the tenant's applies"
    )

    @classmethod
    def of(cls, row: Line, region: str) -> LineOut:
        """The view of a line, its number shown for the tenant's region."""
        return cls(
            id=row.id,
            number_e164=row.number_e164,
            display=display(normalise(row.number_e164, region), region),
            label=row.label,
            location=row.location,
            team_id=row.team_id,
            callback_policy=None
            if row.callback_policy is None
            else CallbackPolicyOut(**CallbackPolicy.of(row.callback_policy).stored()),
        )


class TeamIn(BaseModel):
    """A team: its name is unique in the tenant."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120, examples=["Front desk Amersfoort"])


class TeamOut(BaseModel):
    """A team with its members."""

    id: int
    name: str
    agent_ids: list[int]

    @classmethod
    def of(cls, row: Team) -> TeamOut:
        """The view of a team whose agents are loaded."""
        return cls(id=row.id, name=row.name, agent_ids=sorted(a.id for a in row.agents))


MAX_TEAMS = 100


class AgentCreate(BaseModel):
    """A person answering calls."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120, examples=["Sanne Jansen"])
    email: str | None = Field(default=None, max_length=200)
    extension: str | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        description="Unique in the tenant",
        examples=["201"],
    )
    sip_uri: str | None = Field(default=None, max_length=200, examples=["sip:201@pbx.example"])
    language: Language = Field(default="nl", max_length=16)
    active: bool = True
    role: Role = Field(default=Role.AGENT, description=ROLE_DOC)
    team_ids: list[RowId] = Field(
        default=[], max_length=MAX_TEAMS, description="The teams the agent answers for"
    )


class AgentUpdate(BaseModel):
    """Changes to an agent: only the fields given change; `team_ids` replaces the teams."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=120)
    email: str | None = Field(default=None, max_length=200)
    extension: str | None = Field(default=None, min_length=1, max_length=32)
    sip_uri: str | None = Field(default=None, max_length=200)
    language: Language | None = Field(default=None, max_length=16)
    active: bool | None = None
    role: Role | None = Field(
        default=None, description=ROLE_DOC + "; a change applies to the agent's next pop"
    )
    team_ids: list[RowId] | None = Field(default=None, max_length=MAX_TEAMS)

    @model_validator(mode="after")
    def _no_nulls(self) -> AgentUpdate:
        refuse_nulls(self, ("name", "language", "active", "role", "team_ids"))
        return self


class AgentOut(BaseModel):
    """An agent with their teams."""

    id: int
    name: str
    email: str | None
    extension: str | None
    sip_uri: str | None
    language: str
    active: bool
    role: str = Field(description=ROLE_DOC)
    team_ids: list[int]

    @classmethod
    def of(cls, row: Agent) -> AgentOut:
        """The view of an agent whose teams are loaded."""
        return cls(
            id=row.id,
            name=row.name,
            email=row.email,
            extension=row.extension,
            sip_uri=row.sip_uri,
            language=row.language,
            active=row.active,
            role=row.role,
            team_ids=sorted(t.id for t in row.teams),
        )
