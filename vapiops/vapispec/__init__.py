"""Vapi's published OpenAPI spec: loaded, repaired, compiled into validators; shapes and defaults.

Public API: SchemaIssue, spec, dto_name, discriminator_values, check, accepts, filter_to_update,
read_only_fields, unknown_paths,
apply_defaults (and, for scripts and tests, raw_spec, schemas, walk, bundle, compile_validator and
the repairs).
"""

from vapiops.vapispec.bundle import bundle
from vapiops.vapispec.defaults import apply_defaults, described_default
from vapiops.vapispec.loading import raw_spec, schemas, spec
from vapiops.vapispec.messages import SchemaIssue
from vapiops.vapispec.pattern_repairs import (
    repair_js_regex_literals,
    repair_placeholder_patterns,
    repair_uncompilable_patterns,
    repair_unicode_classes,
)
from vapiops.vapispec.repairs import (
    REPAIRS,
    repair_array_enums,
    repair_duplicate_enums,
    repair_empty_enums,
    repair_enum_types,
    repair_known_type_errors,
    repair_nullable,
    repair_oneof,
)
from vapiops.vapispec.shapes import accepts, filter_to_update, read_only_fields, unknown_paths
from vapiops.vapispec.validators import check, compile_validator, discriminator_values, dto_name
from vapiops.vapispec.walk import walk

__all__ = [
    "REPAIRS",
    "SchemaIssue",
    "accepts",
    "apply_defaults",
    "bundle",
    "check",
    "compile_validator",
    "described_default",
    "discriminator_values",
    "dto_name",
    "filter_to_update",
    "raw_spec",
    "read_only_fields",
    "repair_array_enums",
    "repair_duplicate_enums",
    "repair_empty_enums",
    "repair_enum_types",
    "repair_js_regex_literals",
    "repair_known_type_errors",
    "repair_nullable",
    "repair_oneof",
    "repair_placeholder_patterns",
    "repair_uncompilable_patterns",
    "repair_unicode_classes",
    "schemas",
    "spec",
    "unknown_paths",
    "walk",
]
