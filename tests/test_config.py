"""vapiops.yaml: defaults, environments, allow_fields, and located errors for every bad value."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from vapiops.errors import Location, ManifestError, VapiopsError
from vapiops.project.config import Environment, StateConfig, load_project
from vapiops.project.manifest import find_manifest_files

FULL = """\
resources: [resources, more]
state_dir: state
environments:
  dev:
    api_key_env: VAPI_API_KEY_DEV
    vars: {hooks_url: https://dev.example.com/vapi, timeout: 30}
  prod:
    api_key_env: VAPI_API_KEY_PROD
    base_url: https://eu.api.vapi.ai/
allow_fields:
  assistant: [messagePlan, backgroundDenoisingEnabled]
"""


def project_with(tmp_path: Path, config: str, dirs: tuple[str, ...] = ("resources",)) -> Path:
    for d in dirs:
        (tmp_path / d).mkdir(parents=True, exist_ok=True)
    (tmp_path / "vapiops.yaml").write_text(textwrap.dedent(config))
    return tmp_path


def config_error(tmp_path: Path, config: str, dirs: tuple[str, ...] = ("resources",)) -> ManifestError:
    project_with(tmp_path, config, dirs)
    with pytest.raises(ManifestError) as info:
        load_project(tmp_path)
    return info.value


def test_no_config_file_defaults(tmp_path):
    project = load_project(str(tmp_path))
    root = tmp_path.resolve()
    assert project.root == root
    assert project.resource_roots == (root,)
    assert project.state_dir == root / ".vapiops" / "state"
    assert project.config_file is None
    assert project.allow_fields == {}
    assert list(project.environments) == ["default"]
    env = project.environment(None)
    assert env == Environment("default")
    assert env.api_key_env == "VAPI_API_KEY" and env.base_url == "https://api.vapi.ai"
    assert project.state_file("default") == root / ".vapiops" / "state" / "default.json"


def test_full_config(tmp_path):
    project = load_project(project_with(tmp_path, FULL, ("resources", "more")))
    root = tmp_path.resolve()
    assert project.resource_roots == (root / "resources", root / "more")
    assert project.state_dir == root / "state"
    assert project.config_file == root / "vapiops.yaml"
    assert project.allow_fields == {"assistant": ("messagePlan", "backgroundDenoisingEnabled")}
    dev, prod = project.environments["dev"], project.environments["prod"]
    assert dev.api_key_env == "VAPI_API_KEY_DEV"
    assert dev.vars == {"hooks_url": "https://dev.example.com/vapi", "timeout": 30}
    assert dev.base_url == "https://api.vapi.ai"
    assert prod.base_url == "https://eu.api.vapi.ai/" and prod.vars == {}
    assert project.state_file("prod") == root / "state" / "prod.json"


def test_defaults_with_a_config_file(tmp_path):
    project = load_project(project_with(tmp_path, "# nothing yet\n"))
    root = tmp_path.resolve()
    assert project.resource_roots == (root / "resources",)
    assert project.state_dir == root / ".vapiops" / "state"
    assert list(project.environments) == ["default"]


def test_environment_choice(tmp_path):
    project = load_project(project_with(tmp_path, FULL, ("resources", "more")))
    assert project.environment("prod").name == "prod"
    with pytest.raises(VapiopsError) as info:
        project.environment(None)
    assert "dev, prod" in info.value.message and info.value.hint == "pass --env NAME"
    with pytest.raises(VapiopsError) as info:
        project.environment("prd")
    assert "unknown environment 'prd'" in info.value.message
    assert "did you mean 'prod'" in info.value.message and "known: dev, prod" in info.value.message


def test_default_environment_wins_when_there_are_several(tmp_path):
    project = load_project(project_with(tmp_path, "environments:\n  default: {}\n  prod: {}\n"))
    assert project.environment(None).name == "default"


def test_api_key_comes_from_the_named_variable(monkeypatch):
    env = Environment("dev", api_key_env="VAPI_API_KEY_DEV")
    monkeypatch.setenv("VAPI_API_KEY_DEV", "k-123")
    assert env.api_key() == "k-123"
    for unset in (None, ""):
        if unset is None:
            monkeypatch.delenv("VAPI_API_KEY_DEV")
        else:
            monkeypatch.setenv("VAPI_API_KEY_DEV", unset)
        with pytest.raises(VapiopsError) as info:
            env.api_key()
        assert "VAPI_API_KEY_DEV" in info.value.message and "'dev'" in info.value.message
        assert info.value.hint == "export VAPI_API_KEY_DEV=..."


def test_base_url_override_and_trailing_slash(monkeypatch):
    env = Environment("prod", base_url="https://eu.api.vapi.ai/")
    monkeypatch.delenv("VAPI_BASE_URL", raising=False)
    assert env.resolved_base_url() == "https://eu.api.vapi.ai"
    monkeypatch.setenv("VAPI_BASE_URL", "http://127.0.0.1:8080/")
    assert env.resolved_base_url() == "http://127.0.0.1:8080"


def test_config_file_is_never_a_manifest(tmp_path):
    project_with(tmp_path, "resources: ['.']\n")
    (tmp_path / "a.yaml").write_text("kind: tool\nname: t\nspec: {}\n")
    project = load_project(tmp_path)
    assert [p.name for p in find_manifest_files(project)] == ["a.yaml"]


@pytest.mark.parametrize(
    ("config", "line", "expected"),
    [
        (
            "resources: [resources]\nenviroments: {}\n",
            2,
            "unknown key 'enviroments' (did you mean 'environments'?)",
        ),
        (
            "environments:\n  dev:\n    api_key: X\n",
            3,
            "unknown key 'api_key' in environment 'dev' (did you mean 'api_key_env'?)",
        ),
        ("resources: 3\n", 1, "`resources` must be a list of directories, not a number"),
        ("resources: [resources, 5]\n", 1, "`resources[1]` must be a non-empty string"),
        ("resources:\n  - resources\n  - missing\n", 3, "resources directory 'missing' does not exist"),
        (
            "resources:\n  - ../elsewhere\n",
            2,
            "resources directory '../elsewhere' is outside the project root",
        ),
        ("state_dir: ../../tmp/state\n", 1, "`state_dir` '../../tmp/state' is outside the project root"),
        ("state_dir: [a]\n", 1, "`state_dir` must be a non-empty string, not a list"),
        ("environments: [dev]\n", 1, "`environments` must be a mapping, not a list"),
        ("environments:\n  dev: prod\n", 2, "environment 'dev' must be a mapping, not a string"),
        ("environments:\n  -dev: {}\n", 2, "invalid environment name '-dev'"),
        ("environments:\n  'my env': {}\n", 2, "invalid environment name 'my env'"),
        ("environments:\n  dev:\n    vars: [a]\n", 3, "`vars` must be a mapping, not a list"),
        ("environments:\n  dev:\n    base_url: api.vapi.ai\n", 3, "`base_url` must start with https://"),
        (
            "environments:\n  dev:\n    api_key_env: 'not a name'\n",
            3,
            "`api_key_env` must be an environment variable",
        ),
        ("environments:\n  dev:\n    api_key_env: 7\n", 3, "`api_key_env` must be a non-empty string"),
        ("allow_fields:\n  asistant: [x]\n", 2, "unknown kind 'asistant' (did you mean 'assistant'?)"),
        ("allow_fields:\n  tool: x\n", 2, "`allow_fields.tool` must be a list of field names"),
        (
            "allow_fields:\n  tool:\n    - ok\n    - {x: 1}\n",
            4,
            "`allow_fields.tool[1]` must be a non-empty string",
        ),
        ("- resources\n", 1, "vapiops.yaml must be a mapping, not a list"),
        ("resources: [resources]\nresources: [more]\n", 2, "duplicate key 'resources' (first at line 1)"),
        ("resources: [resources\nstate_dir: x\n", None, "invalid YAML"),
        ("a: 1\n---\nb: 2\n", 3, "must hold one YAML document"),
    ],
)
def test_config_errors_are_located(tmp_path, config, line, expected):
    error = config_error(tmp_path, config)
    assert error.where.file == "vapiops.yaml"
    if line is not None:
        assert error.where == Location("vapiops.yaml", line), str(error)
    else:
        assert error.where.line > 0
    assert expected in error.message, str(error)


def test_unknown_key_hint_lists_allowed_keys(tmp_path):
    error = config_error(tmp_path, "stat_dir: x\n")
    assert "did you mean 'state_dir'" in error.message
    assert (
        error.hint
        == "allowed: resources, state_dir, state, environments, allow_fields, strict, moved, import"
    )
    assert str(error).startswith("vapiops.yaml:1: unknown key 'stat_dir'")


def test_missing_project_directory(tmp_path):
    with pytest.raises(ManifestError) as info:
        load_project(tmp_path / "nope")
    assert "does not exist" in info.value.message


def test_symlinked_resources_dir_escaping_root_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "resources").symlink_to(outside)
    (proj / "vapiops.yaml").write_text("resources: [resources]\n")
    with pytest.raises(ManifestError) as info:
        load_project(proj)
    assert "outside the project root" in info.value.message


# ---------------------------------------------------------------------------------------------
# The `state:` section: which backend keeps state, and where


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("", StateConfig()),
        ("state: {backend: local}\n", StateConfig()),
        (
            "state: {backend: s3, bucket: acme-state, prefix: voice/, region: eu-west-1}\n",
            StateConfig(backend="s3", bucket="acme-state", prefix="voice/", region="eu-west-1"),
        ),
        (
            "state: {backend: s3, bucket: b-1, endpoint_url: 'http://127.0.0.1:9000'}\n",
            StateConfig(backend="s3", bucket="b-1", endpoint_url="http://127.0.0.1:9000"),
        ),
        ("state: {backend: gcs, bucket: acme}\n", StateConfig(backend="gcs", bucket="acme")),
        (
            "state: {backend: postgres, dsn_env: VAPIOPS_PG_DSN}\n",
            StateConfig(backend="postgres", dsn_env="VAPIOPS_PG_DSN", schema="vapiops"),
        ),
        (
            "state: {backend: postgres, dsn_env: PG, schema: voice_state}\n",
            StateConfig(backend="postgres", dsn_env="PG", schema="voice_state"),
        ),
    ],
)
def test_state_section_is_read(tmp_path, section, expected):
    assert load_project(project_with(tmp_path, section)).state == expected


@pytest.mark.parametrize(
    ("section", "line", "expected"),
    [
        ("state: s3\n", 1, "`state` must be a mapping, not a string"),
        (
            "state:\n  bucket: x\n",
            1,
            "`state.backend` must be one of local, s3, gcs, postgres, not nothing (null)",
        ),
        ("state:\n  backend: s4\n", 2, "not 's4'"),
        ("state:\n  backend: s3\n", 1, "the s3 state backend needs `state.bucket`"),
        ("state:\n  backend: gcs\n  bucket: ''\n", 3, "`state.bucket` must be a non-empty string"),
        (
            "state:\n  backend: s3\n  bucket: b\n  schema: x\n",
            4,
            "unknown key 'schema' for the s3 state backend",
        ),
        (
            "state:\n  backend: gcs\n  bucket: b\n  region: eu\n",
            4,
            "unknown key 'region' for the gcs state backend",
        ),
        ("state:\n  backend: s3\n  bucket: b\n  endpoint_url: minio:9000\n", 4, "must be a URL"),
        ("state:\n  backend: postgres\n", 1, "the postgres state backend needs `state.dsn_env`"),
        ("state:\n  backend: postgres\n  dsn: postgresql://u:pw@h/db\n", 3, "unknown key 'dsn'"),
        ("state:\n  backend: postgres\n  dsn_env: postgresql://h/db\n", 3, "names the environment variable"),
        ("state:\n  backend: postgres\n  dsn_env: PG\n  schema: Drop Table\n", 4, "lower-case SQL name"),
        ("state:\n  backend: local\n  bucket: b\n", 3, "unknown key 'bucket' for the local state backend"),
    ],
)
def test_state_section_errors_are_located(tmp_path, section, line, expected):
    error = config_error(tmp_path, section)
    assert error.where == Location("vapiops.yaml", line), str(error)
    assert expected in error.message, str(error)
    assert "pw" not in str(error)  # a DSN written by mistake is never echoed


def test_a_dsn_in_the_file_is_refused_with_a_hint_to_use_a_variable(tmp_path):
    error = config_error(tmp_path, "state: {backend: postgres, dsn: 'postgresql://u:pw@h/db'}\n")
    assert "dsn_env" in (error.hint or "") and "pw" not in str(error)
