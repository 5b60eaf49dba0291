"""Repairs of the spec's wiring defects that real configurations expose (each is tested with one's shape).

Unlike the structural repairs, these fix a place where the spec contradicts itself: a schema it
defines but forgets to list in a union, an `enum` beside a `oneOf` that admits more than the enum.
"""

from __future__ import annotations

import re

from vapiops.paths import copy_json
from vapiops.vapispec.walk import REF_PREFIX, _component_nodes, _components

# (a union member, the member the spec forgot beside it, the event value that selects the forgotten one):
# the docs list `assistant.transcriber.endpointedSpeechLowConfidence` as an assistant hook, the spec
# defines its schema but wires it into no union, so such a hook was checked against the wrong variant.
MISSING_UNION_MEMBERS = (
    (
        "CallHookCustomerSpeechTimeout",
        "CallHookTranscriberEndpointedSpeechLowConfidence",
        ("on", "assistant.transcriber.endpointedSpeechLowConfidence"),
    ),
)


# Hook events the spec states only in words ("Must be either customer.speech.timeout or match the pattern
# customer.speech.timeout[property=value]"): as a pattern, so a union member whose event is an open
# string cannot swallow a hook of another event (the low-confidence hook was checked as a timeout one).
DESCRIBED_EVENT_PATTERNS = {"CallHookCustomerSpeechTimeout": r"^customer\.speech\.timeout(\[[^\]]+\])?$"}


def repair_missing_union_members(doc: dict) -> int:
    """Wire each MISSING_UNION_MEMBERS schema into every union that lists its sibling; give it its event."""
    count = 0
    for name, pattern in DESCRIBED_EVENT_PATTERNS.items():
        event = _components(doc).get(name, {}).get("properties", {}).get("on")
        if isinstance(event, dict) and "pattern" not in event and "enum" not in event:
            event["pattern"] = pattern
            count += 1
    for sibling, missing, (prop, value) in MISSING_UNION_MEMBERS:
        schema = _components(doc).get(missing)
        if schema is None:
            continue
        event = schema.get("properties", {}).get(prop)
        if isinstance(event, dict) and "enum" not in event:
            event["enum"] = [value]  # its one event, so the union can tell it from its siblings
        for node in _component_nodes(doc):
            branches = node.get("oneOf") or node.get("anyOf")
            if not isinstance(branches, list):
                continue
            refs = [b.get("$ref") for b in branches if isinstance(b, dict)]
            if REF_PREFIX + sibling in refs and REF_PREFIX + missing not in refs:
                branches.append({"$ref": REF_PREFIX + missing, "title": missing})
                count += 1
    return count


def repair_enum_beside_oneof(doc: dict) -> int:
    """An `enum` beside a `oneOf` of typed alternatives (Vapi voice `version`: enum '1','2','latest',
    oneOf string or number 1, 2) rejects what the alternatives admit: the API coerces a number. The
    alternatives are the truth, so the enum goes."""
    count = 0
    for node in _component_nodes(doc):
        branches = node.get("oneOf")
        if "enum" in node and isinstance(branches, list) and all("type" in b for b in branches):
            del node["enum"]
            count += 1
    return count


# The spec defines a Create/Update DTO per credential provider but publishes no path for them; the
# real API serves them at /credential (POST, GET list as a bare array, GET/PATCH/DELETE /{id}).
CREDENTIAL_PATH = "/credential"
_CREDENTIAL_DTO = re.compile(r"^Create(\w+)CredentialDTO$")


def _credential_union(doc: dict, verb: str) -> dict:
    """The request body of POST (verb "Create") or PATCH ("Update") /credential: a oneOf of every
    provider's DTO, chosen by `provider` (each Create DTO's one-value enum names its provider)."""
    components = _components(doc)
    mapping: dict[str, str] = {}
    for name, schema in components.items():
        match = _CREDENTIAL_DTO.match(name)
        provider = (schema.get("properties") or {}).get("provider", {}).get("enum") or []
        target = f"{verb}{match.group(1)}CredentialDTO" if match else ""
        if match and len(provider) == 1 and target in components:
            mapping[provider[0]] = REF_PREFIX + target
    return {
        "oneOf": [{"$ref": ref} for ref in mapping.values()],
        "discriminator": {"propertyName": "provider", "mapping": mapping},
    }


def repair_credential_paths(doc: dict) -> int:
    """Add /credential and /credential/{id}, generated from the credential DTOs (0 if present)."""
    paths = doc.setdefault("paths", {})
    if CREDENTIAL_PATH in paths:
        return 0

    def body(verb: str) -> dict:
        return {"content": {"application/json": {"schema": _credential_union(doc, verb)}}}

    listed = {"200": {"content": {"application/json": {"schema": {"type": "array", "items": {}}}}}}
    paths[CREDENTIAL_PATH] = {"post": {"requestBody": body("Create")}, "get": {"responses": listed}}
    paths[CREDENTIAL_PATH + "/{id}"] = {"patch": {"requestBody": body("Update")}, "get": {}, "delete": {}}
    return 2


# Vapi publishes the pronunciation dictionaries at /provider/{provider}/{resourceName} (resourceName's
# one value: pronunciation-dictionary) with no request body schema at all (the SDK's create takes no
# body). vapiops serves the kind at its own path, the body modelled on what each provider takes:
# Cartesia's dictionary is a name and `items` ({text, alias}: the spec's CartesiaPronunciationDictItem);
# ElevenLabs' a name, a description and `rules` (its own API's rule objects). `provider` is the path
# parameter, declared in the manifest and never sent in a body (Kind.path_params).
PROVIDER_RESOURCE_PATH = "/provider/{provider}/{resourceName}"
PRONUNCIATION_PATH = "/provider/{provider}/pronunciation-dictionary"
_RULE = {
    "type": "object",
    "description": "An ElevenLabs pronunciation rule: `alias` replaces the text with another spelling, "
    "`phoneme` with a pronunciation in `alphabet` (ipa or cmu-arpabet).",
    "properties": {
        "type": {"type": "string", "enum": ["alias", "phoneme"]},
        "string_to_replace": {"type": "string", "minLength": 1},
        "alias": {"type": "string"},
        "phoneme": {"type": "string"},
        "alphabet": {"type": "string"},
        "case_sensitive": {"type": "boolean"},
        "word_boundaries": {"type": "boolean"},
    },
    "required": ["type", "string_to_replace"],
}


def _pronunciation_dto(providers: list[str], *, create: bool) -> dict:
    props: dict = {
        "name": {"type": "string", "minLength": 1, "maxLength": 100, "description": "The dictionary's name."},
        "description": {"type": "string", "description": "ElevenLabs: the dictionary's description."},
        "items": {
            "type": "array",
            "description": "Cartesia: the text-to-pronunciation mappings.",
            "items": {"$ref": REF_PREFIX + "CartesiaPronunciationDictItem"},
        },
        "rules": {
            "type": "array",
            "description": "ElevenLabs: the pronunciation rules.",
            "items": {"$ref": REF_PREFIX + "ElevenLabsPronunciationRule"},
        },
    }
    if not create:
        return {"type": "object", "properties": props}
    provider = {"type": "string", "enum": providers, "description": "The provider that hosts the dictionary."}
    return {"type": "object", "properties": {"provider": provider, **props}, "required": ["provider", "name"]}


def repair_pronunciation_dictionary_paths(doc: dict) -> int:
    """Add the pronunciation dictionary's body DTOs and its paths (0 if the spec has no provider
    resources, or has the paths already)."""
    paths = doc.setdefault("paths", {})
    published = paths.get(PROVIDER_RESOURCE_PATH, {}).get("post")
    if published is None or PRONUNCIATION_PATH in paths:
        return 0
    param = next(p for p in published.get("parameters", []) if p.get("name") == "provider")
    providers = list(param["schema"]["enum"])
    components = _components(doc)
    components["ElevenLabsPronunciationRule"] = copy_json(
        _RULE
    )  # later repairs change it: never the constant
    components["CreatePronunciationDictionaryDTO"] = _pronunciation_dto(providers, create=True)
    components["UpdatePronunciationDictionaryDTO"] = _pronunciation_dto(providers, create=False)

    def body(name: str) -> dict:
        return {"content": {"application/json": {"schema": {"$ref": REF_PREFIX + name}}}}

    one = {"200": {"content": {"application/json": {"schema": {"$ref": REF_PREFIX + "ProviderResource"}}}}}
    listed = paths[PROVIDER_RESOURCE_PATH].get("get", {})
    paths[PRONUNCIATION_PATH] = {
        "post": {"requestBody": body("CreatePronunciationDictionaryDTO")},
        "get": listed,
    }
    paths[PRONUNCIATION_PATH + "/{id}"] = {
        "patch": {"requestBody": body("UpdatePronunciationDictionaryDTO")},
        "get": {"responses": one},
        "delete": {},
    }
    return 2
