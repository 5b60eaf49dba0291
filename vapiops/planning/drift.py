"""Drift: what changed on the server since the last apply (`plan --refresh-only`). Pure."""

from __future__ import annotations

from vapiops import paths
from vapiops.kinds import get_kind
from vapiops.model import ABSENT, SENSITIVE, Action, Change, FieldChange, Plan, Reason
from vapiops.planning.diff import compare, path_key
from vapiops.planning.graph import owners, to_names
from vapiops.planning.planner import Live, live_index, with_local_fields
from vapiops.state import State


def drift_report(environment: str, state: State, live: Live) -> Plan:
    """A Plan whose `drift` lists every managed resource that changed outside vapiops; no changes, no steps.

    Each managed resource's declared fields (its `applied`) are compared with live under the
    ownership rules: a difference is an update "changed outside vapiops" with before = what vapiops
    applied and after = what is live now; a missing object is a delete "deleted outside vapiops".
    Secret values are not compared (Vapi may mask them, and state holds only their hashes, so a
    comparison could only ever report false drift); a secret field gone from the live object is
    reported.
    """
    owner = owners(state.resources, live)
    by_id = live_index(live)
    plan = Plan(environment, refresh_only=True)
    for addr in sorted(state.resources):
        entry = state.resources[addr]
        kind = get_kind(entry.kind)
        if kind.name not in by_id:
            raise ValueError(f"live objects of kind {kind.name!r} were not listed")
        obj = by_id[kind.name].get(entry.id)
        if obj is None:
            plan.drift.append(
                Change(addr, kind.name, entry.name, Action.DELETE, entry.id, reason=Reason.DELETED_OUTSIDE)
            )
            continue
        named, _ = to_names(kind, {k: v for k, v in obj.items() if k not in kind.read_only}, owner)
        applied = {k: v for k, v in (entry.applied or {}).items() if k not in kind.read_only}
        named = with_local_fields(kind, named, applied)
        secret_paths = {paths.parse_path(k): k for k in entry.secrets}
        fields = [
            (p, FieldChange(fc.path, fc.after, fc.before, fc.sensitive))
            for p, fc in compare(
                applied,
                named,
                None,
                set_paths=kind.set_fields,
                prior_secrets=entry.secrets,
                skip=secret_paths,
            )
        ]
        for p, dotted in secret_paths.items():
            if paths.get(named, p) is None:
                fields.append((p, FieldChange(dotted, SENSITIVE, ABSENT, sensitive=True)))
        if fields:
            plan.drift.append(
                Change(
                    addr,
                    kind.name,
                    entry.name,
                    Action.UPDATE,
                    entry.id,
                    fields=[fc for _, fc in sorted(fields, key=lambda pf: path_key(pf[0]))],
                    reason=Reason.CHANGED_OUTSIDE,
                )
            )
    return plan
