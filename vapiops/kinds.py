"""THE registry: one Kind per managed Vapi resource; everything else in vapiops is generic.

Nothing outside this module may special-case a kind by name. A new kind is one entry here
(plus its DTO names, which the vendored OpenAPI spec resolves).
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field
from typing import Any, Literal

from vapiops import paths
from vapiops.capabilities import AttachedSet, ExternalIdField, PinField, RefField, ServerRule, Upload

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
        # Credential DTO fields the spec says are "not returned in the API" (tests/test_registry.py
        # walks every Create*CredentialDTO): Azure OpenAI's keys, a Slack webhook URL (the URL is the
        # secret), AWS access key IDs, GCP's HMAC access key.
        "openAIKey",
        "ocpApimSubscriptionKey",
        "webhookUrl",
        "awsAccessKeyId",
        "hmacAccessKey",
    }
)
SECRET_PATTERNS = ("**.server.headers.*",)


_GITOPS_LEARNINGS = "Vapi's gitops tool, docs/learnings/assistants.md (the API's 400)"
_SCORECARD_DOCS = "docs.vapi.ai/observability/scorecard-quickstart: points for all rules must sum to 100"
SCORECARD_POINTS = "metrics[].conditions[].points"

# Rules wherever an assistant can appear (itself, squad member overrides, a handoff's transient one).
ASSISTANT_GRAPH_RULES = (
    ServerRule("**.silenceTimeoutSeconds", "minimum", 10, _GITOPS_LEARNINGS),
    ServerRule(
        "**.hooks[].options.timeoutSeconds",
        "minimum",
        2,
        "the spec's own prose: CustomerSpeechTimeoutOptions.timeoutSeconds says @minimum 2 (its schema says 1)",
    ),
    ServerRule(SCORECARD_POINTS, "sum", 100, _SCORECARD_DOCS, scope="**.artifactPlan.scorecards[]"),
)


_NO_KIND = "vapiops has no {} kind yet: write its Vapi ID"
_PROVIDER = "an identifier at the voice or cloud provider, not a Vapi object"

# Every ID field of the managed kinds' Create DTOs that is not a RefField (tests/test_registry.py).
EXTERNAL_ID_FIELDS = (
    ExternalIdField("**.monitorPlan.monitorIds[]", "monitor", _NO_KIND.format("monitor")),
    ExternalIdField("**.analysisPlan.outcomeIds[]", "outcome", _NO_KIND.format("outcome")),
    ExternalIdField("**.model.workflowId", "workflow", _NO_KIND.format("workflow")),
    ExternalIdField("**.workflowIds[]", "workflow", _NO_KIND.format("workflow")),
    ExternalIdField("**.voiceId", "voice", _PROVIDER, vapi_id=False),
    ExternalIdField("**.personaId", "voice persona", _PROVIDER, vapi_id=False),
    ExternalIdField("**.libraryIds[]", "voice library", _PROVIDER, vapi_id=False),
    ExternalIdField(
        "**.pronunciationDictionary[].versionId", "pronunciation dictionary version", _PROVIDER, vapi_id=False
    ),
    ExternalIdField(
        "**.pronunciationDictionaryLocators[].versionId",
        "pronunciation dictionary version",
        _PROVIDER,
        vapi_id=False,
    ),
    ExternalIdField("**.credentials[].**", "inline provider credential", _PROVIDER, vapi_id=False),
    ExternalIdField("**.callerId", "caller ID", "a phone number, not an ID", vapi_id=False),
    ExternalIdField("workflowId", "workflow", _NO_KIND.format("workflow")),
)

# A credential's own ID fields are the provider's account identifiers, never Vapi objects.
CREDENTIAL_PROVIDER_IDS = tuple(
    ExternalIdField(
        pattern, "provider account identifier", "a credential's field at its provider", vapi_id=False
    )
    for pattern in (
        "accountId",
        "authorizationId",
        "awsAccessKeyId",
        "groupId",
        "teamId",
        "userId",
        "authenticationPlan.awsAccessKeyId",
        "authenticationPlan.clientId",
        "authenticationPlan.externalId",
        "bucketPlan.accessKeyId",
        "gcpKey.clientId",
        "gcpKey.privateKeyId",
        "gcpKey.projectId",
    )
)

# A suite's target is an assistant or a squad as its sibling `targetType` says.
SUITE_TARGET = RefField(
    "targetAssignments[].targetId",
    "assistant",
    target_from=("targetType", (("assistant", "assistant"), ("squad", "squad"))),
)

# Where voices name a pronunciation dictionary: the PROVIDER's dictionary ID (the target's resourceId,
# see Kind.referenced_by), written in manifests as the dictionary's manifest name. A value that is no
# manifest name is a dictionary made elsewhere (at ElevenLabs, Cartesia) and is sent as written.
PRONUNCIATION_REFERENCES = (
    RefField("**.pronunciationDictionaryLocators[].pronunciationDictionaryId", "pronunciation-dictionary"),
    RefField("**.pronunciationDictId", "pronunciation-dictionary"),  # a voice's own, and each locator's
)


# What Kind.find_ids finds in one value: (field, concrete path, value) of each reference, and of each external ID.
FoundReferences = list[tuple[RefField, paths.Path, Any]]
FoundExternalIds = list[tuple[ExternalIdField, paths.Path, Any]]


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
    external_ids: tuple[ExternalIdField, ...] = EXTERNAL_ID_FIELDS  # ID fields no manifest names
    server_rules: tuple[ServerRule, ...] = ()  # what the real API refuses beyond its schemas
    # False: vapiops can reference live objects of this kind (a `lookup:` document) but not write
    # them; a `spec:` document of it is a validation error.
    writable: bool = True
    # Path parameters of `path` taken from the body's top-level field of the same name, with every
    # value the API allows: listing reads each value's collection and merges them; a create is POSTed
    # to its body's; the parameter is not sent in bodies (the path carries it); a change is a replace.
    path_params: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # The live field other objects hold to reference one of this kind: "id" (the Vapi ID), or a
    # provider's own identifier (a pronunciation dictionary's `resourceId`), in which case a
    # reference value that names no manifest is that provider identifier, sent as written.
    referenced_by: str = "id"
    # The API never returns this kind's secret fields (kinds.is_secret_path) in clear: responses show
    # them masked, so plans compare them by the hash state keeps, never with the live value.
    secrets_masked: bool = False

    # The collection GET needs these query parameters: one listing per dict, merged (file: `purpose`).
    list_queries: tuple[dict[str, str], ...] = ()
    upload: Upload | None = None  # created by a multipart upload of a local file (file)
    attached_sets: tuple[AttachedSet, ...] = ()  # references kept by attach/detach calls (knowledge base)

    def collection(self, params: dict[str, str] | None = None) -> str:
        """The collection path with its path parameters filled in (`path` itself when it has none)."""
        return self.path.format(**(params or {})) if self.path_params else self.path

    @property
    def collections(self) -> list[str]:
        """The collection path of every GET a complete listing reads (see `listings`)."""
        return [self.collection(params) for params, _ in self.listings()]

    def listings(self) -> list[tuple[dict[str, str], dict[str, str]]]:
        """(path parameters, query parameters) of every listing a complete read of this kind merges:
        one per path parameter combination and required query (`list_queries`)."""
        return [(p, q) for p in self.path_param_sets() for q in (self.list_queries or ({},))]

    def path_param_sets(self) -> list[dict[str, str]]:
        """Every combination of allowed path parameter values ([{}] for a kind without any)."""
        names = list(self.path_params)
        return [
            dict(zip(names, combo, strict=True)) for combo in itertools.product(*self.path_params.values())
        ]

    @property
    def unsent_fields(self) -> tuple[str, ...]:
        """Top-level spec fields vapiops keeps but never sends in a JSON body (upload, attached sets)."""
        return (*(self.upload.local if self.upload else ()), *(a.field for a in self.attached_sets))

    @property
    def body_references(self) -> tuple[RefField, ...]:
        """The references inside the API's body (not in an attached set): what the spec's DTOs hold."""
        unsent = self.unsent_fields
        return tuple(r for r in self.references if r.pattern.split(".")[0].removesuffix("[]") not in unsent)

    def match_body(self, body: dict[str, Any]) -> dict[str, Any]:
        """What the live object a create body made looks like, as far as a listing shows it: for
        finding it after an uncertain POST or a crash."""
        if self.upload is not None:
            return self.upload.match_body(body)
        return {k: v for k, v in body.items() if k not in self.unsent_fields}

    @functools.cached_property
    def set_fields(self) -> tuple[str, ...]:
        """Patterns of arrays compared as sets: every ID array reference field (asked twice per
        API call by apply: computed once)."""
        return tuple(r.pattern[:-2] for r in self.references if r.is_array)

    def find_references(self, obj: Any) -> FoundReferences:
        """(reference field, concrete path, value) for every reference value in obj, one walk for all."""
        return self.find_ids(obj)[0]

    def find_external_ids(self, obj: Any) -> FoundExternalIds:
        """(external ID field, concrete path, value) for every value in obj at an EXTERNAL_ID_FIELDS pattern."""
        return self.find_ids(obj)[1]

    def find_ids(self, obj: Any) -> tuple[FoundReferences, FoundExternalIds]:
        """find_references and find_external_ids of obj, in one walk (validation asks both of every spec)."""
        found = paths.find_many(obj, self._id_patterns)
        refs: FoundReferences = []
        for ref, hits in zip(self.references, found, strict=False):
            for path, value in hits:
                chosen = ref.chosen(obj, path)
                if chosen is not None:
                    refs.append((chosen, path, value))
        external = [
            (ext, path, value)
            for ext, hits in zip(self.external_ids, found[len(self.references) :], strict=True)
            for path, value in hits
        ]
        return refs, external

    @functools.cached_property
    def _id_patterns(self) -> tuple[paths.Path | str, ...]:
        return tuple(r.pattern for r in self.references) + tuple(e.pattern for e in self.external_ids)

    def display_name(self, obj: dict) -> str | None:
        for p in self.display_name_paths:
            value = paths.get(obj, paths.parse_path(p))
            if isinstance(value, str) and value:
                return value
        return None


# Where an assistant can appear, so can its references: inline in a squad member, in member and
# squad-wide overrides, in a handoff tool's transient destination assistant or squad, in inline
# tools (`model.tools[]`, `tools:append[]`) and their destinations, in a workflow's nodes. Hence
# patterns at any depth (`**`); tests/test_registry.py walks every Create DTO to prove that every
# ID field of the spec is one of these or in EXTERNAL_ID_FIELDS.
ASSISTANT_GRAPH_REFERENCES = (
    RefField("**.model.toolIds[]", "tool"),
    RefField("**.model.toolRefs[].toolId", "tool"),  # a version-pinned tool: {toolId, version}
    RefField("**.hooks[].do[].toolId", "tool"),
    RefField("**.compliancePlan.recordingConsentPlan.declineToolId", "tool"),
    RefField("**.workflow.nodes[].toolId", "tool"),
    RefField("**.workflow.nodes[].toolIds[]", "tool"),
    RefField("**.destinations[].assistantId", "assistant"),
    RefField("**.destinations[].squadId", "squad"),
    RefField("**.members[].assistantId", "assistant"),
    RefField("**.assistantDestinations[].assistantId", "assistant"),
    RefField("**.artifactPlan.scorecards[].assistantIds[]", "assistant"),
    RefField("**.artifactPlan.structuredOutputs[].assistantIds[]", "assistant"),
    RefField("**.artifactPlan.structuredOutputIds[]", "structured-output"),
    RefField("**.artifactPlan.scorecards[].metrics[].structuredOutputId", "structured-output"),
    RefField("**.artifactPlan.scorecardIds[]", "scorecard"),
    RefField("**.credentialId", "credential"),
    RefField("**.credentialIds[]", "credential"),
    RefField("**.knowledgeBases[].fileIds[]", "file"),
    *PRONUNCIATION_REFERENCES,
)

KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            name="assistant",
            path="/assistant",
            list_shape="array",
            create_dto="CreateAssistantDTO",
            update_dto="UpdateAssistantDTO",
            references=ASSISTANT_GRAPH_REFERENCES,
            server_rules=ASSISTANT_GRAPH_RULES,
        ),
        Kind(
            name="tool",
            path="/tool",
            list_shape="array",
            create_dto="CreateToolDTO",  # the POST /tool oneOf, chosen by `type`
            update_dto="UpdateToolDTO",  # the PATCH /tool/{id} oneOf, chosen by `type`
            discriminator="type",
            references=ASSISTANT_GRAPH_REFERENCES,  # a handoff's destinations, and what they carry
            replace_fields=("type",),
            display_name_paths=("name", "function.name"),
            pinned_by=(PinField("assistant", "model.toolRefs[].toolId", "tool_pinned"),),
            server_rules=ASSISTANT_GRAPH_RULES,
        ),
        Kind(
            name="squad",
            path="/squad",
            list_shape="array",
            create_dto="CreateSquadDTO",
            update_dto="UpdateSquadDTO",
            references=ASSISTANT_GRAPH_REFERENCES,  # members, their overrides, membersOverrides
            patch_required=("members",),
            server_rules=ASSISTANT_GRAPH_RULES,
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
            server_rules=(ServerRule(SCORECARD_POINTS, "sum", 100, _SCORECARD_DOCS),),
        ),
        Kind(
            name="credential",
            path="/credential",  # not in the published spec: vapispec adds it from the DTOs
            list_shape="array",
            create_dto="CreateCredentialDTO",  # the POST /credential oneOf, chosen by `provider`
            update_dto="UpdateCredentialDTO",
            discriminator="provider",
            replace_fields=("provider",),
            external_ids=EXTERNAL_ID_FIELDS + CREDENTIAL_PROVIDER_IDS,
            secrets_masked=True,  # "This is not returned in the API", the DTOs say of each secret
        ),
        Kind(
            name="phone-number",
            path="/phone-number",
            list_shape="array",
            create_dto="CreatePhoneNumberDTO",  # the POST /phone-number oneOf, chosen by `provider`
            update_dto="UpdatePhoneNumberDTO",
            discriminator="provider",
            references=(
                RefField("assistantId", "assistant"),
                RefField("squadId", "squad"),
                RefField("**.credentialId", "credential"),  # its own, and its server's
            ),
            replace_fields=("provider", "number"),  # another number is another phone line
            display_name_paths=("name", "number", "sipUri"),
        ),
        Kind(
            name="eval",
            path="/eval",
            list_shape="paginated",
            create_dto="CreateEvalDTO",
            update_dto="UpdateEvalDTO",
        ),
        Kind(
            name="simulation-personality",
            path="/eval/simulation/personality",
            list_shape="array",
            create_dto="CreatePersonalityDTO",
            update_dto="UpdatePersonalityDTO",
            references=ASSISTANT_GRAPH_REFERENCES,  # the tester is a whole inline assistant
        ),
        Kind(
            name="simulation-scenario",
            path="/eval/simulation/scenario",
            list_shape="array",
            create_dto="CreateScenarioDTO",
            update_dto="UpdateScenarioDTO",
            references=(
                RefField("evaluations[].structuredOutputId", "structured-output"),
                RefField("evaluations[].structuredOutput.assistantIds[]", "assistant"),
                *ASSISTANT_GRAPH_REFERENCES,  # targetOverrides are assistant overrides
            ),
        ),
        Kind(
            name="simulation",
            path="/eval/simulation",
            list_shape="array",
            create_dto="CreateSimulationDTO",
            update_dto="UpdateSimulationDTO",
            references=(
                RefField("scenarioId", "simulation-scenario"),
                RefField("personalityId", "simulation-personality"),
            ),
        ),
        Kind(
            name="simulation-suite",
            path="/eval/simulation/suite",
            list_shape="array",
            create_dto="CreateSimulationSuiteDTO",
            update_dto="UpdateSimulationSuiteDTO",
            references=(RefField("simulationIds[]", "simulation"), SUITE_TARGET),
        ),
        Kind(
            name="file",
            path="/file",
            list_shape="array",
            create_dto="CreateFileDTO",  # multipart/form-data: the upload itself
            update_dto="UpdateFileDTO",
            # GET /file requires `purpose`: one listing per value of CreateFileDTO.purpose's enum.
            list_queries=tuple(
                {"purpose": p} for p in ("assistant", "composer-attachment", "knowledge-base-v2")
            ),
            upload=Upload(),
            replace_fields=("sha256", "bytes"),  # Upload.hash and Upload.size: new content, new file
        ),
        Kind(
            name="knowledge-base",
            path="/v2/knowledge-base",
            list_shape="array",
            create_dto="CreateKnowledgeBaseV2DTO",
            update_dto="UpdateKnowledgeBaseV2DTO",
            references=(RefField("files[]", "file"),),
            attached_sets=(AttachedSet("files", "file", "file", "fileId"),),
        ),
        Kind(
            name="pronunciation-dictionary",
            path="/provider/{provider}/pronunciation-dictionary",  # vapispec adds it from the published
            list_shape="paginated",  # /provider/{provider}/{resourceName} with its body DTOs
            create_dto="CreatePronunciationDictionaryDTO",
            update_dto="UpdatePronunciationDictionaryDTO",
            path_params={"provider": ("11labs", "cartesia")},
            replace_fields=("provider",),
            referenced_by="resourceId",
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
