"""The project file: read vapiops.yaml (or its defaults) into a Project with its environments."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vapiops import kinds, redact
from vapiops.errors import Location, ManifestError, VapiopsError, did_you_mean
from vapiops.project.refactors import ImportBlock, MovedBlock, read_imports, read_moved
from vapiops.project.yamlload import describe_value, load_yaml_with_lines, read_text

CONFIG_FILE = "vapiops.yaml"
STATE_ROOT = ".vapiops"

DEFAULT_ENV = "default"
DEFAULT_API_KEY_ENV = "VAPI_API_KEY"
DEFAULT_BASE_URL = "https://api.vapi.ai"
BASE_URL_ENV = "VAPI_BASE_URL"
ENV_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_VAR_NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

TOP_KEYS = ("resources", "state_dir", "state", "environments", "allow_fields", "strict", "moved", "import")
# A dotted field path of allow_fields: names, each optionally followed by [] (a list's elements).
_FIELD_PATH = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*(\[\])?(\.[A-Za-z_$][A-Za-z0-9_$-]*(\[\])?)*")
ENVIRONMENT_KEYS = ("api_key_env", "base_url", "vars")


@dataclass(frozen=True)
class Environment:
    name: str
    api_key_env: str = DEFAULT_API_KEY_ENV
    base_url: str = DEFAULT_BASE_URL  # VAPI_BASE_URL (process env) overrides, see resolved_base_url
    vars: dict[str, Any] = field(default_factory=dict)

    def api_key(self) -> str:
        """The API key from the environment variable; never stored anywhere else."""
        key = os.environ.get(self.api_key_env, "")
        if not key:
            raise VapiopsError(
                f"environment variable {self.api_key_env} is not set (needed for environment {self.name!r})",
                hint=f"export {self.api_key_env}=...",
            )
        redact.register(key)
        return key

    def resolved_base_url(self) -> str:
        return (os.environ.get(BASE_URL_ENV) or self.base_url).rstrip("/")


STATE_BACKENDS = ("local", "s3", "gcs", "postgres")
# The keys each backend reads from `state:`; any other key is a located error.
STATE_KEYS = {
    "local": ("backend",),
    "s3": ("backend", "bucket", "prefix", "region", "endpoint_url"),
    "gcs": ("backend", "bucket", "prefix"),
    "postgres": ("backend", "dsn_env", "schema"),
}
_SCHEMA_PATTERN = re.compile(r"[a-z_][a-z0-9_]{0,62}")


@dataclass(frozen=True)
class StateConfig:
    """vapiops.yaml's `state:` section: where every environment's state is kept."""

    backend: str = "local"
    bucket: str = ""  # s3, gcs
    prefix: str = ""  # s3, gcs: object names are <prefix><env>.json, <prefix><env>.lock, ...
    region: str | None = None  # s3
    endpoint_url: str | None = None  # s3 (VAPIOPS_S3_ENDPOINT_URL overrides nothing set here)
    dsn_env: str = ""  # postgres: the variable holding the connection string
    schema: str = "vapiops"  # postgres


@dataclass(frozen=True)
class Project:
    root: Path  # absolute, resolved
    resource_roots: tuple[Path, ...]  # absolute dirs to scan for manifests
    state_dir: Path  # absolute (default root/.vapiops/state)
    environments: dict[str, Environment]
    allow_fields: dict[str, tuple[str, ...]]  # kind -> dotted paths of extra fields allowed, any depth
    config_file: Path | None
    state: StateConfig = field(default_factory=StateConfig)
    strict: bool = False  # properties in no schema are errors, not warnings
    moved: tuple[MovedBlock, ...] = ()  # `moved:` renames, applied to each environment's state
    imports: tuple[ImportBlock, ...] = ()  # `import:` adoptions of live objects, per environment

    def environment(self, name: str | None) -> Environment:
        """The named environment; with no name, the only one or `default`."""
        known = ", ".join(self.environments)
        if name is None:
            if len(self.environments) == 1:
                return next(iter(self.environments.values()))
            if DEFAULT_ENV in self.environments:
                return self.environments[DEFAULT_ENV]
            raise VapiopsError(
                f"this project has several environments ({known}); which one?", hint="pass --env NAME"
            )
        if name not in self.environments:
            raise VapiopsError(
                f"unknown environment {name!r}{did_you_mean(name, self.environments)} (known: {known})",
                hint="pass --env NAME",
            )
        return self.environments[name]

    def state_file(self, env: str) -> Path:
        return self.state_dir / f"{env}.json"


def find_config_upwards(start: Path) -> Path | None:
    """The nearest folder from `start` up that holds vapiops.yaml, as git finds .git; never above a repository's top."""
    for folder in (start, *start.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
        if (folder / ".git").exists():
            return None
    return None


def load_project(root: Path | str) -> Project:
    """Read the project at root: vapiops.yaml when present, else every manifest under root and `default`.

    The current directory (`.`, the default PATH) is a project's subfolder when vapiops.yaml is
    above it: the nearest one up is used.
    """
    if Path(root) == Path(".") and not Path(CONFIG_FILE).is_file():
        root = find_config_upwards(Path.cwd().resolve()) or root
    root = Path(root).expanduser().resolve()
    if root.is_file():
        raise ManifestError(
            f"{root} is a file, not a project directory",
            hint="pass the folder that holds vapiops.yaml or the manifests",
        )
    if not root.is_dir():
        raise ManifestError(f"project directory {root} does not exist", hint="check the PATH argument")
    config = root / CONFIG_FILE
    if not config.is_file():
        return Project(
            root=root,
            resource_roots=(root,),
            state_dir=root / STATE_ROOT / "state",
            environments={DEFAULT_ENV: Environment(DEFAULT_ENV)},
            allow_fields={},
            config_file=None,
        )
    try:
        documents = load_yaml_with_lines(read_text(config), CONFIG_FILE)
    except ManifestError as exc:
        exc.where = exc.where or Location(CONFIG_FILE)
        raise
    return _ConfigReader(root, config, documents).project()


class _ConfigReader:
    """Checks vapiops.yaml's values one key at a time; the first problem is raised, located."""

    def __init__(self, root: Path, config: Path, documents: list[tuple[Any, dict[tuple, int]]]):
        self.root = root
        self.config = config
        if len(documents) > 1:
            raise ManifestError(
                "vapiops.yaml must hold one YAML document",
                where=Location(CONFIG_FILE, documents[1][1].get((), 0)),
            )
        self.doc: Any = documents[0][0] if documents else {}
        self.lines: dict[tuple, int] = documents[0][1] if documents else {}

    def at(self, *path: str | int) -> Location:
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line:
                return Location(CONFIG_FILE, line)
        return Location(CONFIG_FILE)

    def fail(self, path: tuple, message: str, hint: str | None = None) -> ManifestError:
        return ManifestError(message, where=self.at(*path), hint=hint)

    def mapping(self, value: Any, path: tuple, what: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(path, f"{what} must be a mapping, not {describe_value(value)}")
        return value

    def string(self, value: Any, path: tuple, what: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(path, f"{what} must be a non-empty string, not {describe_value(value)}")
        return value

    def inside_root(self, text: str, path: tuple, what: str) -> Path:
        resolved = (self.root / text).resolve()
        if not resolved.is_relative_to(self.root):
            raise self.fail(path, f"{what} {text!r} is outside the project root")
        return resolved

    def project(self) -> Project:
        doc = self.mapping(self.doc, (), "vapiops.yaml")
        for key in doc:
            if key not in TOP_KEYS:
                raise self.fail(
                    (key,),
                    f"unknown key {key!r}{did_you_mean(key, TOP_KEYS)}",
                    hint=f"allowed: {', '.join(TOP_KEYS)}",
                )
        environments = self.environments(doc.get("environments"))
        return Project(
            root=self.root,
            resource_roots=self.resources(doc.get("resources", ["resources"])),
            state_dir=self.inside_root(
                self.string(doc.get("state_dir", f"{STATE_ROOT}/state"), ("state_dir",), "`state_dir`"),
                ("state_dir",),
                "`state_dir`",
            ),
            environments=environments,
            allow_fields=self.allow_fields(doc.get("allow_fields")),
            config_file=self.config,
            strict=self.flag(doc.get("strict", False), ("strict",), "`strict`"),
            state=self.state(doc.get("state")),
            moved=read_moved(doc.get("moved"), self._fail, self.at),
            imports=read_imports(doc.get("import"), self._fail, self.at, list(environments)),
        )

    def _fail(self, path: tuple, message: str) -> ManifestError:
        return self.fail(path, message)

    def state(self, value: Any) -> StateConfig:
        table = self.mapping(value, ("state",), "`state`")
        if not table:
            return StateConfig()
        backend = table.get("backend")
        if backend not in STATE_BACKENDS:
            raise self.fail(
                ("state", "backend"),
                f"`state.backend` must be one of {', '.join(STATE_BACKENDS)}, not "
                f"{repr(backend) if isinstance(backend, str) else describe_value(backend)}"
                f"{did_you_mean(backend, STATE_BACKENDS)}",
            )
        allowed = STATE_KEYS[backend]
        for key in table:
            if key not in allowed:
                hint = f"the {backend} backend reads: {', '.join(allowed)}"
                if key == "dsn":
                    hint = "never put the connection string in the file: name the variable holding it in `dsn_env`"
                raise self.fail(
                    ("state", key), f"unknown key {key!r} for the {backend} state backend", hint=hint
                )

        def text(key: str, default: str | None = None, *, empty_ok: bool = False) -> Any:
            if key not in table:
                if default is None:
                    raise self.fail(
                        ("state",),
                        f"the {backend} state backend needs `state.{key}`",
                        hint=f"add `{key}:` under `state:`",
                    )
                return default
            value = table[key]
            if empty_ok and value == "":
                return value
            return self.string(value, ("state", key), f"`state.{key}`")

        if backend in ("s3", "gcs"):
            endpoint = text("endpoint_url", "") or None
            if endpoint is not None and not endpoint.startswith(("https://", "http://")):
                raise self.fail(
                    ("state", "endpoint_url"), f"`state.endpoint_url` must be a URL (got {endpoint!r})"
                )
            return StateConfig(
                backend=backend,
                bucket=text("bucket"),
                prefix=text("prefix", "", empty_ok=True),
                region=text("region", "") or None,
                endpoint_url=endpoint,
            )
        if backend == "postgres":
            dsn_env = text("dsn_env")
            if not _VAR_NAME_PATTERN.fullmatch(dsn_env):
                raise self.fail(
                    ("state", "dsn_env"),
                    f"`state.dsn_env` names the environment variable holding the DSN (such as VAPIOPS_PG_DSN), "
                    f"not {dsn_env!r}",
                    hint="never put the connection string itself in the file",
                )
            schema = text("schema", "vapiops")
            if not _SCHEMA_PATTERN.fullmatch(schema):
                raise self.fail(
                    ("state", "schema"),
                    f"`state.schema` must be a lower-case SQL name such as vapiops, not {schema!r}",
                )
            return StateConfig(backend=backend, dsn_env=dsn_env, schema=schema)
        return StateConfig()

    def flag(self, value: Any, path: tuple, what: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(path, f"{what} must be true or false, not {describe_value(value)}")
        return value

    def resources(self, value: Any) -> tuple[Path, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            raise self.fail(
                ("resources",), f"`resources` must be a list of directories, not {describe_value(value)}"
            )
        roots: list[Path] = []
        for i, item in enumerate(value):
            path = ("resources", i)
            text = self.string(item, path, f"`resources[{i}]`")
            directory = self.inside_root(text, path, "resources directory")
            if not directory.is_dir():
                raise self.fail(
                    path,
                    f"resources directory {text!r} does not exist",
                    hint="create it or change `resources:` in vapiops.yaml",
                )
            if directory not in roots:
                roots.append(directory)
        return tuple(roots)

    def environments(self, value: Any) -> dict[str, Environment]:
        table = self.mapping(value, ("environments",), "`environments`")
        if not table:
            return {DEFAULT_ENV: Environment(DEFAULT_ENV)}
        out: dict[str, Environment] = {}
        for name, body in table.items():
            path = ("environments", name)
            if not ENV_NAME_PATTERN.fullmatch(name):
                raise self.fail(
                    path,
                    f"invalid environment name {name!r}: use letters, digits, '_' and '-', "
                    "starting with a letter or digit",
                )
            body = self.mapping(body, path, f"environment {name!r}")
            for key in body:
                if key not in ENVIRONMENT_KEYS:
                    raise self.fail(
                        path + (key,),
                        f"unknown key {key!r} in environment {name!r}{did_you_mean(key, ENVIRONMENT_KEYS)}",
                        hint=f"allowed: {', '.join(ENVIRONMENT_KEYS)}",
                    )
            key_env = self.string(
                body.get("api_key_env", DEFAULT_API_KEY_ENV), path + ("api_key_env",), "`api_key_env`"
            )
            if not _VAR_NAME_PATTERN.fullmatch(key_env):
                raise self.fail(
                    path + ("api_key_env",),
                    f"`api_key_env` must be an environment variable "
                    f"name such as VAPI_API_KEY, not {key_env!r}",
                )
            base_url = self.string(body.get("base_url", DEFAULT_BASE_URL), path + ("base_url",), "`base_url`")
            if not base_url.startswith(("https://", "http://")):
                raise self.fail(
                    path + ("base_url",), f"`base_url` must start with https:// (got {base_url!r})"
                )
            env_vars = self.mapping(body.get("vars"), path + ("vars",), "`vars`")
            out[name] = Environment(name=name, api_key_env=key_env, base_url=base_url, vars=env_vars)
        return out

    def allow_fields(self, value: Any) -> dict[str, tuple[str, ...]]:
        table = self.mapping(value, ("allow_fields",), "`allow_fields`")
        out: dict[str, tuple[str, ...]] = {}
        for kind, fields in table.items():
            path = ("allow_fields", kind)
            if kind not in kinds.KINDS:
                raise self.fail(
                    path,
                    f"unknown kind {kind!r}{did_you_mean(kind, kinds.KINDS)}",
                    hint=f"kinds: {', '.join(kinds.KINDS)}",
                )
            if fields is None:
                fields = []
            if not isinstance(fields, list):
                raise self.fail(
                    path, f"`allow_fields.{kind}` must be a list of field names, not {describe_value(fields)}"
                )
            names = [self.string(f, path + (i,), f"`allow_fields.{kind}[{i}]`") for i, f in enumerate(fields)]
            for i, name in enumerate(names):
                if not _FIELD_PATH.fullmatch(name):
                    raise self.fail(
                        path + (i,),
                        f"`allow_fields.{kind}[{i}]` {name!r} is not a field path",
                        hint="write names joined by dots, e.g. model.serviceTier or members[].assistantOverrides.x",
                    )
            out[kind] = tuple(names)
        return out
