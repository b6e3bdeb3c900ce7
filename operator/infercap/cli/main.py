"""Entry point of `infercap` (and `kubectl infercap`): argument parsing and error handling.

Every failure ends as one line on stderr and exit code 2; no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import NoReturn

from pydantic import ValidationError

from infercap import __version__
from infercap.api.manifests import ManifestError
from infercap.api.types import Precision
from infercap.api.validation import describe
from infercap.cli import factors
from infercap.config import ConfigError
from infercap.core.errors import PlanError
from infercap.providers import registered

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad command-line input; the message is the whole line to print."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse prints usage plus a line; we print one line that says where help is.
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _output(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-o",
        "--output",
        choices=["table", "yaml", "json"],
        default="table",
        help="output format (default: table)",
    )


def _price(value: str) -> tuple[str, Decimal]:
    acc, sep, amount = value.partition("=")
    try:
        price = Decimal(amount)
    except InvalidOperation:
        price = Decimal(-1)
    if not sep or not acc or price <= 0:
        raise argparse.ArgumentTypeError(f"expected ACCELERATOR=PRICE_PER_CHIP_HOUR such as h100=4.50, got {value!r}")
    return acc, price


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="infercap",
        description="Model-aware inference capacity: plan accelerators, nodes and cost from a model and its traffic.",
    )
    parser.add_argument("--version", action="version", version=f"infercap {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_plan(sub)
    _add_estimate(sub)
    _add_compare(sub)
    _add_simulate(sub)
    _add_run(sub)
    _add_profile(sub)
    _add_catalog(sub)
    return parser


def _add_plan(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = sub.add_parser(
        "plan",
        help="plan ModelDeployment manifests offline",
        description=(
            "Plan every ModelDeployment in FILE (YAML, several documents allowed; ModelProfile and "
            "AcceleratorProfile documents in the same files add to the catalog, CapacityPolicy documents cap "
            "the plans as the operator does)."
        ),
    )
    p.add_argument(
        "-f",
        "--filename",
        action="append",
        required=True,
        metavar="FILE",
        help="manifest file, or - for stdin; repeatable",
    )
    p.add_argument(
        "--provider",
        choices=list(registered()),
        help="plan only accelerators this node-pool provider can create (as the operator does); "
        "default: spec.nodePool.provider, else every accelerator",
    )
    p.add_argument(
        "--price",
        action="append",
        type=_price,
        default=[],
        metavar="ACC=PRICE",
        help="override an accelerator's price per chip-hour, e.g. h100=4.50; repeatable",
    )
    p.add_argument(
        "--policy",
        action="append",
        default=[],
        metavar="FILE",
        help="CapacityPolicy YAML: its ceilings and node-pool targets apply as in the operator (CapacityPolicy "
        "documents in -f files count too); repeatable",
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        help="operator configuration YAML (its limits, policyRequired, targets and prices apply as in the "
        "operator; default: built-in defaults)",
    )
    p.add_argument(
        "--step-time-factor",
        action="append",
        type=factors.parse_factor,
        default=[],
        metavar="ACC=FACTOR",
        help="plan with the step time of an accelerator multiplied by FACTOR (0.5-2), as online calibration "
        "does, e.g. h100=1.3; repeatable; wins over --calibration-from",
    )
    p.add_argument(
        "--calibration-from",
        metavar="FILE",
        help="plan with the corrections the operator measured: `kubectl get modeldeployment -o yaml` (or json) "
        "output, matched to the -f ModelDeployments by namespace and name (status.observed.calibration)",
    )
    _output(p)


def _add_estimate(sub: argparse._SubParsersAction[_Parser]) -> None:
    e = sub.add_parser(
        "estimate",
        help="what one fixed replica configuration sustains",
        description=(
            "Throughput, batch, memory and latency of one replica: MODEL on CHIPS chips of ACCELERATOR. "
            "Without --stream-tokens-per-second the batch is as large as memory allows (max offline throughput)."
        ),
    )
    e.add_argument("--model", required=True, help="catalog model id (infercap catalog models)")
    e.add_argument("--accelerator", required=True, help="catalog accelerator id (infercap catalog accelerators)")
    e.add_argument("--chips", required=True, type=int, help="chips in the replica")
    e.add_argument("--precision", choices=[p.value for p in Precision], help="weight precision (default: native)")
    e.add_argument("--kv-cache-precision", choices=["bf16", "fp8"], help="KV-cache precision")
    e.add_argument("--input-tokens", required=True, type=int, help="mean input tokens per request")
    e.add_argument("--output-tokens", required=True, type=int, help="mean output tokens per request")
    e.add_argument("--stream-tokens-per-second", type=float, help="minimum decode speed per stream (SLO)")
    _output(e)


def _add_compare(sub: argparse._SubParsersAction[_Parser]) -> None:
    c = sub.add_parser("compare", help="two models side by side: published figures vs physics")
    c.add_argument("model_a", metavar="MODEL_A")
    c.add_argument("model_b", metavar="MODEL_B")
    _output(c)


def _add_simulate(sub: argparse._SubParsersAction[_Parser]) -> None:
    m = sub.add_parser(
        "simulate",
        help="replay a request trace through the autoscaling policy, baselines and the oracle",
        description=(
            "Replay a request trace through infercap's autoscaling policy, five baselines (static peak, the "
            "cheapest constant count reaching the target in hindsight, the HPA, "
            "KEDA's Prometheus scaler, an llm-d-style saturation scaler) and a perfect-foresight oracle (the "
            "cheapest schedule reaching the target attainment, with a proven lower bound), all paying the "
            "provisioning delay. Each request is served by a latency model of the replica set (queueing, time "
            "to first token, decode speed at the running batch); report cost, SLO attainment, cost relative to "
            "the oracle and scale events."
        ),
    )
    m.add_argument("--trace", required=True, metavar="FILE", help="request trace (Azure CSV, Mooncake JSONL, CSV)")
    m.add_argument("--model", required=True, help="catalog model id")
    m.add_argument("--accelerators", metavar="A,B", help="candidate accelerators (default: every one)")
    m.add_argument(
        "--format",
        choices=["azure", "mooncake", "csv"],
        help="trace format (default: from the file: .jsonl Mooncake, a ContextTokens header Azure, else CSV "
        "with timestamp,input_tokens,output_tokens)",
    )
    m.add_argument(
        "--rate-scale",
        type=float,
        default=1.0,
        metavar="K",
        help="multiply the arrival rate by K (requests replicated with small jitter; default 1)",
    )
    m.add_argument("--precision", choices=[p.value for p in Precision], help="weight precision")
    m.add_argument("--headroom", type=float, default=0.2, help="the baselines' spare capacity fraction (default 0.2)")
    m.add_argument(
        "--stream-tokens-per-second", type=float, default=20.0, help="per-stream decode speed SLO (default 20)"
    )
    m.add_argument("--ttft-ms", type=float, default=2000.0, help="time-to-first-token SLO, ms (default 2000)")
    m.add_argument(
        "--target-attainment",
        type=float,
        default=0.995,
        help="share of requests that must meet the SLO (the oracle's and the policy's target; default 0.995)",
    )
    m.add_argument(
        "--provisioning-seconds",
        type=float,
        default=300,
        help="node start plus model load before new capacity serves (default 300)",
    )
    m.add_argument("--stabilization-seconds", type=float, default=300, help="scale-down stabilization (default 300)")
    m.add_argument(
        "--max-num-seqs",
        type=int,
        metavar="N",
        help="streams a replica's engine admits at once (vLLM --max-num-seqs); default: the planned batch, "
        "which infercap renders; more than the batch ceiling (KV cache) is cut to it",
    )
    m.add_argument(
        "--measured-sli",
        action="store_true",
        help="add a row 'infercap+sli': the policy with its error budget on the SLI the replay measured "
        "(what spec.autoscaling.sli gives the operator)",
    )
    m.add_argument(
        "--measured-burstiness",
        action="store_true",
        help="add a row 'infercap+z': the policy with the arrivals' peakedness measured from the trace's "
        "per-second counts (the operator sees one-minute rates: peakedness 1)",
    )
    m.add_argument("--plot", metavar="PNG", help="write a capacity-vs-demand plot (needs matplotlib)")
    _output(m)


def _add_run(sub: argparse._SubParsersAction[_Parser]) -> None:
    r = sub.add_parser(
        "run",
        help="run the operator (Kopf) against the current cluster",
        description=(
            "Run the infercap operator: reconcile ModelDeployments into node pools, quotas and cost annotations. "
            "Credentials come from KUBECONFIG (or ~/.kube/config), or the in-cluster service account."
        ),
    )
    r.add_argument("--config", metavar="FILE", help="operator configuration YAML (default: built-in defaults)")
    r.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        metavar="NS",
        help="watch only this namespace (repeatable); default: all namespaces",
    )
    r.add_argument(
        "--peering",
        metavar="NAME",
        help="join Kopf peering NAME for high availability (needs the peering CRDs); default: standalone",
    )
    r.add_argument(
        "--liveness",
        metavar="URL",
        default="http://0.0.0.0:8080/healthz",
        help="liveness endpoint to serve (default: http://0.0.0.0:8080/healthz; 'none' to disable)",
    )
    r.add_argument(
        "--metrics-port",
        type=int,
        default=8000,
        metavar="PORT",
        help="serve Prometheus metrics on this port (default 8000; 0 to disable)",
    )
    r.add_argument(
        "--log-format",
        choices=["plain", "full", "json"],
        default="plain",
        help="log line format (json for log pipelines)",
    )
    r.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def _add_profile(sub: argparse._SubParsersAction[_Parser]) -> None:
    pr = sub.add_parser("profile", help="measured profiles: import benchmark results into a ModelProfile")
    prs = pr.add_subparsers(dest="profile_command", metavar="SUBCOMMAND", parser_class=_Parser, required=True)
    pi = prs.add_parser(
        "import",
        help="aiperf / GuideLLM / vllm bench serve JSON -> ModelProfile YAML with a measured block",
        description="Reads benchmark result files of one replica configuration and prints a ModelProfile "
        "(the model's catalog spec plus the measured points) to apply or pass to `infercap plan -f`.",
    )
    pi.add_argument("files", nargs="+", metavar="FILE", help="result JSON files (one or more runs each)")
    pi.add_argument("--model", required=True, help="catalog model id the runs served")
    pi.add_argument("--accelerator", required=True, help="catalog accelerator id the runs used")
    pi.add_argument("--chips", required=True, type=int, help="chips in the benchmarked replica")
    pi.add_argument("--precision", choices=[p.value for p in Precision], help="weight precision served")
    pi.add_argument("--tensor-parallel", type=int, help="tensor-parallel size (default: chips / pipeline)")
    pi.add_argument("--pipeline-parallel", type=int, default=1, help="pipeline-parallel size (default 1)")
    pi.add_argument("--engine", default="", help="serving engine (vllm, sglang, trtllm)")
    pi.add_argument("--engine-version", default="", help="serving engine version")
    pi.add_argument("--name", help="ModelProfile name (default: the model id, overriding the built-in)")
    pi.add_argument("-f", "--filename", help="add to this existing ModelProfile file instead of the catalog's")


def _add_catalog(sub: argparse._SubParsersAction[_Parser]) -> None:
    k = sub.add_parser("catalog", help="list built-in models or accelerators")
    k.add_argument("what", choices=["models", "accelerators"])
    _output(k)


def run(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    # Imported here so `infercap --help` stays fast.
    from infercap.cli import commands

    handler = getattr(commands, f"cmd_{args.command}")
    text = handler(args)
    print(text)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return run(argv)
    except UsageError as e:
        _fail(f"infercap: error: {e}")
    except PlanError as e:
        _fail(f"infercap: error: {e} [{e.reason}]")
    except ManifestError as e:
        _fail(f"infercap: error: {e}")
    except ValidationError as e:
        _fail(f"infercap: error: {describe(e)}")
    except ConfigError as e:
        _fail(f"infercap: error: {e}")
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def _fail(line: str) -> NoReturn:
    print(line, file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


if __name__ == "__main__":
    raise SystemExit(main())
