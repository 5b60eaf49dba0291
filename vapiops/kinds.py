"""THE registry: one Kind per managed Vapi resource; everything else in vapiops is generic.

Nothing outside this module may special-case a kind by name. A new kind is one entry here
(plus its DTO names, which the vendored OpenAPI spec resolves).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from vapiops import paths

# Top-level fields the API owns: never sent, never diffed (all kinds).
READ_ONLY_FIELDS = frozenset(
    {"id", "orgId", "createdAt", "updatedAt", "latestVersion", "isServerUrlSecretSet", "isDeleted"}
)

# Keys whose values are secrets wherever they appear (credentials, auth plans). Together with
# SECRET_PATTERNS these are "the known secret fields" of docs/plan.md. Taken from Vapi's spec: the
# current spec has no `server.secret`; webhook auth lives in `server.headers` and auth plans.
SECRET_KEYS = frozenset(
    {
        "apiKey",
        "apiSecret",
        "authToken",
        "token",
        "secretKey",
        "clientSecret",
        "password",
        "authPassword",
        "privateKey",
        "secretAccessKey",
        "awsSecretAccessKey",
        "hmacSecret",
        "refreshToken",
        "accessToken",
        "twilioAuthToken",
        "twilioApiSecret",
        "twilioApiKey",
        "vonageApplicationPrivateKey",
        "SecretAccessKey",
        "SessionToken",
    }
)
SECRET_PATTERNS = ("**.server.headers.*",)


@dataclass(frozen=True)
class RefField:
    """A field holding the ID of another managed resource; manifests write its name instead."""

    pattern: str  # e.g. "model.toolIds[]" (an ID array) or "hooks[].do[].toolId" (one ID)
    target: str  # kind name of the referenced resource

    @property
    def is_array(self) -> bool:
        """An ID array (`...[]` last): compared as a set, elements added/removed individually."""
        return self.pattern.endswith("[]")


@dataclass(frozen=True)
class PinField:
    """Where another kind pins a version of this one (Vapi's versioning): while an object of kind
    `by` holds this one's ID at `pattern`, the API refuses to delete it with 409 `error`."""

    by: str  # kind name of the pinning resource
    pattern: str  # path in the pinning object holding the pinned ID, e.g. "model.toolRefs[].toolId"
    error: str  # Vapi's error code in the 409 body, e.g. "tool_pinned"


@dataclass(frozen=True)
class Kind:
    name: str  # manifest `kind:` and address prefix, e.g. "assistant"
    path: str  # collection path, e.g. "/assistant"
    list_shape: Literal["array", "paginated"]  # bare JSON array, or {results, metadata}
    create_dto: str  # schema name in the OpenAPI spec; for a discriminated kind, the request oneOf
    update_dto: str
    discriminator: str | None = None  # body field choosing the DTO (tool: "type")
    references: tuple[RefField, ...] = ()
    replace_fields: tuple[str, ...] = ()  # top-level keys PATCH cannot change: a change is a replace
    patch_required: tuple[str, ...] = ()  # top-level keys every PATCH must carry
    patch_query: dict[str, str] = field(default_factory=dict)  # query params every PATCH sends (defaults)
    name_field: str | None = "name"  # top-level field filled from the manifest name when absent
    display_name_paths: tuple[str, ...] = ("name",)  # where a live object's human name lives
    read_only: frozenset[str] = READ_ONLY_FIELDS  # the named table; vapispec.read_only_fields adds the spec's
    pinned_by: tuple[PinField, ...] = ()  # where other kinds pin versions of this one (a 409 on delete)
    # (query parameter, path): the parameter is sent "true" on a PATCH that changes the value at
    # path (structured output: schemaOverride when the schema's top-level type changes), else "false".
    override_flag: tuple[str, str] | None = None

    @property
    def set_fields(self) -> tuple[str, ...]:
        """Patterns of arrays compared as sets: every ID array reference field."""
        return tuple(r.pattern[:-2] for r in self.references if r.is_array)

    def display_name(self, obj: dict) -> str | None:
        for p in self.display_name_paths:
            value = paths.get(obj, paths.parse_path(p))
            if isinstance(value, str) and value:
                return value
        return None


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            name="assistant",
            path="/assistant",
            list_shape="array",
            create_dto="CreateAssistantDTO",
            update_dto="UpdateAssistantDTO",
            references=(
                RefField("model.toolIds[]", "tool"),
                RefField("hooks[].do[].toolId", "tool"),
                RefField("compliancePlan.recordingConsentPlan.declineToolId", "tool"),
                RefField("artifactPlan.structuredOutputIds[]", "structured-output"),
                RefField("artifactPlan.scorecardIds[]", "scorecard"),
            ),
        ),
        Kind(
            name="tool",
            path="/tool",
            list_shape="array",
            create_dto="CreateToolDTO",  # the POST /tool oneOf, chosen by `type`
            update_dto="UpdateToolDTO",  # the PATCH /tool/{id} oneOf, chosen by `type`
            discriminator="type",
            references=(
                RefField("destinations[].assistantId", "assistant"),
                RefField("destinations[].squadId", "squad"),
            ),
            replace_fields=("type",),
            display_name_paths=("name", "function.name"),
            pinned_by=(PinField("assistant", "model.toolRefs[].toolId", "tool_pinned"),),
        ),
        Kind(
            name="squad",
            path="/squad",
            list_shape="array",
            create_dto="CreateSquadDTO",
            update_dto="UpdateSquadDTO",
            references=(
                RefField("members[].assistantId", "assistant"),
                RefField("members[].assistantDestinations[].assistantId", "assistant"),
                # A member may carry a transient assistant, or overrides, with references of their own.
                RefField("members[].assistant.model.toolIds[]", "tool"),
                RefField("members[].assistant.hooks[].do[].toolId", "tool"),
                RefField("members[].assistant.compliancePlan.recordingConsentPlan.declineToolId", "tool"),
                RefField("members[].assistant.artifactPlan.structuredOutputIds[]", "structured-output"),
                RefField("members[].assistant.artifactPlan.scorecardIds[]", "scorecard"),
                RefField("members[].assistantOverrides.model.toolIds[]", "tool"),
                RefField("membersOverrides.model.toolIds[]", "tool"),
            ),
            patch_required=("members",),
        ),
        Kind(
            name="structured-output",
            path="/structured-output",
            list_shape="paginated",
            create_dto="CreateStructuredOutputDTO",
            update_dto="UpdateStructuredOutputDTO",
            references=(RefField("assistantIds[]", "assistant"),),
            patch_query={"schemaOverride": "false"},
            override_flag=("schemaOverride", "schema.type"),
        ),
        Kind(
            name="scorecard",
            path="/observability/scorecard",
            list_shape="paginated",
            create_dto="CreateScorecardDTO",
            update_dto="UpdateScorecardDTO",
            references=(
                RefField("assistantIds[]", "assistant"),
                RefField("metrics[].structuredOutputId", "structured-output"),
            ),
        ),
    )
}


def get_kind(name: str) -> Kind:
    """The Kind for a manifest `kind:` value; KeyError if unknown (callers turn it into a located error)."""
    return KINDS[name]


def is_secret_path(path: paths.Path) -> bool:
    """True for a value at a known secret field (SECRET_KEYS anywhere, or SECRET_PATTERNS)."""
    if path and isinstance(path[-1], str) and path[-1] in SECRET_KEYS:
        return True
    return any(paths.matches(p, path) for p in SECRET_PATTERNS)
