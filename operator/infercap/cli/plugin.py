"""`kubectl infercap`: the kubectl plugin. It takes kubectl's connection flags (--kubeconfig, --context,
-n/--namespace, -A/--all-namespaces) anywhere on the line and adds verbs that read the cluster:

  get [NAME]       plan vs observed for ModelDeployments (one namespace or all)
  cost             monthly cost totals per namespace and currency
  explain NAME     how the plan of one ModelDeployment was derived, and its conditions
  completion SHELL a bash or zsh completion script

Every other verb (plan, estimate, compare, simulate, ...) is the offline `infercap` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn

from infercap.api.status import dump
from infercap.api.status import read as read_status
from infercap.cli import render
from infercap.kube.client import KubeError
from infercap.kube.connect import ConnectError, Session, connect, model_deployments, nodes
from infercap.providers import MODEL_DEPLOYMENT, dns_name

EXIT_USAGE = 2
CLUSTER_VERBS = ("get", "cost", "explain", "completion")
# Listed in help and completion; any verb that is not a cluster verb goes to the offline command.
OFFLINE_VERBS = ("plan", "estimate", "compare", "simulate", "catalog")


def connection_flags() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
    p.add_argument("--context", help="kubeconfig context (default: the current one)")
    p.add_argument("-n", "--namespace", help="namespace (default: the context's)")
    p.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
    p.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    return p


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="kubectl infercap", description=__doc__.split("\n\n")[0])
    sub = top.add_subparsers(dest="verb", metavar="VERB")
    flags = connection_flags()
    g = sub.add_parser("get", parents=[flags], help="plan vs observed for ModelDeployments")
    g.add_argument("name", nargs="?")
    sub.add_parser("cost", parents=[flags], help="monthly cost totals per namespace and currency")
    e = sub.add_parser("explain", parents=[flags], help="the explanation of one ModelDeployment's plan")
    e.add_argument("name")
    c = sub.add_parser("completion", help="shell completion script")
    c.add_argument("shell", choices=("bash", "zsh"))
    for verb in OFFLINE_VERBS:
        sub.add_parser(verb, help=f"offline: infercap {verb} (see `infercap {verb} --help`)", add_help=False)
    return top


def fail(line: str) -> NoReturn:
    print(f"kubectl infercap: error: {line}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


VALUE_FLAGS = {"--kubeconfig", "--context", "-n", "--namespace", "-o", "--output"}


def split_verb(args: Sequence[str]) -> tuple[str | None, list[str]]:
    """The first word that is neither a flag nor a connection flag's value, and the other arguments in
    order: kubectl users put flags before the verb as often as after it."""
    skip = False
    for i, a in enumerate(args):
        if skip:
            skip = False
        elif a in VALUE_FLAGS:
            skip = True
        elif not a.startswith("-"):
            return a, [*args[:i], *args[i + 1 :]]
    return None, list(args)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    verb, rest = split_verb(args)
    if (verb is not None and verb not in CLUSTER_VERBS) or (verb is None and "--version" in args):
        from infercap.cli.main import main as offline

        return offline(args if verb is None else [verb, *rest])
    ns = parser().parse_args(args if verb is None else [verb, *rest])
    if ns.verb is None:
        parser().print_help()
        return EXIT_USAGE
    if ns.verb == "completion":
        print(completion(ns.shell))
        return 0
    try:
        session = connect(ns.kubeconfig, ns.context)
        out = asyncio.run(run(ns, session))
    except (ConnectError, KubeError) as e:
        fail(f"{e} [{e.reason}]")
    except KeyboardInterrupt:
        return 130
    print(out)
    return 0


async def run(ns: argparse.Namespace, session: Session) -> str:
    namespace = None if ns.all_namespaces else (ns.namespace or session.namespace)
    try:
        items = await model_deployments(session.kube, namespace)
        if ns.verb in ("get", "explain") and ns.name:
            items = [i for i in items if i["metadata"]["name"] == ns.name]
            if not items:
                raise ConnectError("NotFound", f'modeldeployment "{ns.name}" not found in namespace {namespace}')
        if ns.verb == "get":
            owned = await nodes(session.kube)
            return show(get_rows(items, owned), ns.output, GET_HEADERS, namespace is None)
        if ns.verb == "cost":
            return show(cost_rows(items), ns.output, COST_HEADERS, True)
        return explain(items[0], ns.output)
    finally:
        await session.kube.close()


GET_HEADERS = ("namespace", "name", "model", "accelerator", "replicas", "observed", "nodes", "observed", "cost/month")
COST_HEADERS = ("namespace", "currency", "deployments", "chips", "cost/month")


def observed_nodes(item: dict[str, Any], all_nodes: list[dict[str, Any]]) -> int:
    """Nodes carrying the label infercap puts on the nodes of this ModelDeployment's pools."""
    key = dns_name(item["metadata"]["namespace"], item["metadata"]["name"])
    return sum(1 for n in all_nodes if ((n.get("metadata") or {}).get("labels") or {}).get(MODEL_DEPLOYMENT) == key)


def get_rows(items: list[dict[str, Any]], all_nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for i in sorted(items, key=lambda i: (i["metadata"]["namespace"], i["metadata"]["name"])):
        status = read_status(i.get("status"))
        plan, cost, observed = status.plan, status.cost, status.observed
        rows.append(
            {
                "namespace": i["metadata"]["namespace"],
                "name": i["metadata"]["name"],
                "model": (i.get("spec") or {}).get("model", ""),
                "accelerator": plan.accelerator if plan else "-",
                "plannedReplicas": plan.replicas if plan else None,
                # The serving workload's ready replicas, when the operator reports them in status.
                "observedReplicas": observed.replicas_ready if observed else None,
                "plannedNodes": plan.nodes if plan else None,
                "observedNodes": observed_nodes(i, all_nodes),
                "costMonthly": cost.monthly if cost else None,
                "currency": cost.currency if cost else "USD",
            }
        )
    return rows


def cost_rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    totals: dict[tuple[str, str], dict[str, Any]] = {}
    for i in items:
        status = read_status(i.get("status"))
        cost, plan = status.cost, status.plan
        key = (i["metadata"]["namespace"], cost.currency if cost else "USD")
        row = totals.setdefault(key, {"namespace": key[0], "currency": key[1], "deployments": 0, "chips": 0, "m": 0})
        row["deployments"] += 1
        row["chips"] += plan.chips if plan else 0
        with contextlib.suppress(InvalidOperation):  # a status written by hand: count what parses
            row["m"] += Decimal(cost.monthly if cost else 0)
    out = []
    for key in sorted(totals):
        row = totals[key]
        out.append({**{k: v for k, v in row.items() if k != "m"}, "costMonthly": f"{row['m']:.2f}"})
    return out


def show(rows: list[dict[str, Any]], fmt: str, headers: Sequence[str], with_namespace: bool) -> str:
    if fmt != "table":
        return render.dump(rows, fmt)
    if not rows:
        return "No resources found."
    planned = "plannedReplicas" in rows[0]
    cells = [get_cells(r) if planned else cost_cells(r) for r in rows]
    shown = list(headers)
    if not with_namespace:
        shown, cells = shown[1:], [c[1:] for c in cells]
    # Numbers right-aligned, as kubectl does.
    numeric = 5 if planned else 3
    return render.table(shown, cells, right=set(range(len(shown) - numeric, len(shown))))


def get_cells(r: dict[str, Any]) -> list[str]:
    money = render.money(r["costMonthly"], r["currency"]) if r["costMonthly"] else "-"
    counts = [r["plannedReplicas"], r["observedReplicas"], r["plannedNodes"], r["observedNodes"]]
    return [r["namespace"], r["name"], r["model"], r["accelerator"], *map(dash, counts), money]


def cost_cells(r: dict[str, Any]) -> list[str]:
    money = render.money(r["costMonthly"], r["currency"])
    return [r["namespace"], r["currency"], str(r["deployments"]), str(r["chips"]), money]


def dash(value: Any) -> str:
    return "-" if value is None else str(value)


def explain(item: dict[str, Any], fmt: str) -> str:
    status = read_status(item.get("status"))
    data = {
        "name": item["metadata"]["name"],
        "namespace": item["metadata"]["namespace"],
        "explanation": status.plan.explanation if status.plan else [],
        "conditions": [dump(c) for c in status.conditions],
    }
    cal = status.observed.calibration if status.observed is not None else None
    calibration = dump(cal) if cal is not None else None
    if calibration:
        data["calibration"] = calibration
    if fmt != "table":
        return render.dump(data, fmt)
    lines = [f"ModelDeployment {data['namespace']}/{data['name']}", "Why:"]
    lines += [f"  - {step}" for step in data["explanation"]] or ["  (not planned yet)"]
    if calibration:
        lines.append(f"Calibration: {calibration_summary(calibration)}")
    lines.append("Conditions:")
    rows = [[c.get("type"), c.get("status"), c.get("reason"), c.get("message", "")] for c in data["conditions"]]
    lines += ["  " + line for line in render.table(("type", "status", "reason", "message"), rows).splitlines()]
    return "\n".join(lines)


def calibration_summary(c: dict[str, Any]) -> str:
    """One line of status.observed.calibration: the model's error on the running replicas and its use."""
    if c.get("predictionError") is None:
        return f"{c.get('mode')}: no usable sample yet (see the Calibrated condition)"
    use = "applied to the plan" if c.get("applied") else "not applied"
    return (
        f"{c.get('mode')} ({c.get('engine')} on {c.get('accelerator')}): prediction error "
        f"{float(c['predictionError']):+.1%} at {c.get('batchPerReplica')} running per replica, correction "
        f"{float(c.get('factor') or 1):.2f}x over {c.get('samples', 0)} sample(s), {use}"
    )


def completion(shell: str) -> str:
    verbs = " ".join((*CLUSTER_VERBS, *OFFLINE_VERBS))
    flags = "--kubeconfig --context --namespace -n --all-namespaces -A --output -o --help"
    if shell == "zsh":
        return f"#compdef kubectl-infercap\n_arguments '1:verb:({verbs})' '*:flag:({flags})'"
    # bash: kubectl looks for kubectl_complete-<plugin> on PATH; this script also completes
    # `kubectl-infercap` itself. Names after get/explain come from the cluster.
    return f"""_kubectl_infercap() {{
  local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}"
  if [ "$COMP_CWORD" -eq 1 ]; then COMPREPLY=($(compgen -W "{verbs}" -- "$cur")); return; fi
  local words
  case "$prev" in
    get|explain) words=$(kubectl get modeldeployments -o name 2>/dev/null | sed 's|.*/||');;
    -o|--output) words="table json yaml";;
    --context) words=$(kubectl config get-contexts -o name 2>/dev/null);;
    -n|--namespace) words=$(kubectl get namespaces -o name 2>/dev/null | sed 's|.*/||');;
    *) words="{flags}";;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}}
complete -F _kubectl_infercap kubectl-infercap"""


if __name__ == "__main__":
    raise SystemExit(main())
