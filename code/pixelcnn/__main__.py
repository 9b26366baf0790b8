"""Command line of the pixelcnn package: data, training, evaluation, benchmarks and the report.

An error is reported in one line that says what went wrong and what to do (exit status 1);
``--debug`` or ``PIXELCNN_DEBUG=1`` shows the Python traceback instead. Heavy modules (torch,
Lightning) are imported only when a command runs, so ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import os
import sys

PROG = "python -m pixelcnn"
DEBUG_HELP = "show the Python traceback of an error (also PIXELCNN_DEBUG=1)"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; it imports nothing heavy."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", parents=[common], help="train (or resume) named runs and cache their results")
    train.add_argument("names", nargs="+", help="run names (q1, q2, reverse, ...: an unknown name lists them all) "
                                                "or 'all'")
    # Lightning's Trainer options, passed through (data parallelism: batch_size is per device, the lr is not scaled)
    train.add_argument("--accelerator", default="auto", help="'cpu', 'gpu', 'auto', ... (default: auto)")
    train.add_argument("--devices", default="1", help="devices per node: a number, 'auto' or -1 for all (default: 1)")
    train.add_argument("--num-nodes", type=int, default=1, help="number of nodes (default: 1)")
    train.add_argument("--strategy", default="auto", help="'ddp', 'fsdp', 'auto', ... (default: auto)")
    sub.add_parser("data", parents=[common], help="fetch and verify MNIST")
    bench = sub.add_parser("bench", parents=[common],
                           help="measure training and sampling speed side by side; saved for the report")
    bench.add_argument("--render", action="store_true", help="also time a warm-cache execution of the report")
    sub.add_parser("report", parents=[common],
                   help="render the report (Quarto if installed, else a preview and a Colab notebook)")
    compute = sub.add_parser("compute", parents=[common],
                             help="read, else compute and cache, a declared result of the report")
    compute.add_argument("name", help="the result's name (q3-results, q3-chains, ...: an unknown name lists them)")
    compute.add_argument("args", nargs="*", help="its arguments (d or g for the chains, a run name for samples)")
    evaluate = sub.add_parser("evaluate", parents=[common],
                              help="validation and test bits/dim of a model on the full MNIST splits")
    evaluate.add_argument("name", help="'pretrained' or a run name")
    return parser


def run(args: argparse.Namespace) -> None:
    """Carry out the parsed command."""
    if args.command == "data":
        from .study.data import ensure_mnist

        print(f"MNIST verified in {ensure_mnist()}")
    elif args.command == "train":
        import json

        from .study import runs

        names = list(runs.RUNS) if args.names == ["all"] else args.names
        configs = {name: runs.config(name) for name in names}  # validate every name first
        if len(configs) > 1 and (args.devices != "1" or args.num_nodes > 1):
            raise ValueError("train one run at a time on several devices or nodes")
        devices = int(args.devices) if args.devices.lstrip("-").isdigit() else args.devices
        options = {"accelerator": args.accelerator, "devices": devices, "num_nodes": args.num_nodes,
                   "strategy": args.strategy}
        from .study.training import train as train_run

        for name, config in configs.items():
            entry = train_run(config, **options)
            if entry is not None:  # None in the processes of ranks > 0
                print(f"{name}: {entry.folder.name} {json.dumps(entry.metrics)}")
    elif args.command == "bench":
        from .study.benchmark import run_and_cache, summary

        render = None
        if args.render:
            from .report.build import render_seconds as render
        print(summary(run_and_cache(recompute=True, render=render).metrics))
    elif args.command == "report":
        from .report.build import build

        for path in build():
            print(f"wrote {path}")
    elif args.command == "compute":
        from .study import cache

        declared = cache.declared()
        if args.name not in declared:
            raise ValueError(f"unknown result {args.name!r}; declared: {', '.join(declared)}")
        result = declared[args.name](*compute_arguments(declared[args.name], args.args))
        print(f"{args.name}: {cache.entry_folder(declared[args.name].kind, result.inputs).name}")
    elif args.command == "evaluate":
        from .study import runs

        if args.name != "pretrained":
            runs.config(args.name)  # an unknown name is refused before anything is loaded
        from .study.data import ensure_mnist, load_images
        from .study.training import evaluate as evaluate_model

        ensure_mnist()
        model = runs.load(args.name)
        for split in ("val", "test"):
            bpd = evaluate_model(model, load_images(split), progress=True)
            print(f"{args.name} {split} bits/dim: {bpd:.4f}")


def compute_arguments(declared, values: list[str]) -> list:
    """The command-line ``values`` of ``compute NAME ...`` checked against the declaration's inputs function (how
    many it takes, and each one's annotated type: int, str or tuple[int, int] as "14,14") and converted; a
    ValueError says in one line which one is wrong and what it should be."""
    import inspect

    def kind(parameter: inspect.Parameter) -> str:
        annotation = parameter.annotation
        text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
        return text.removesuffix(" | None")

    parameters = list(inspect.signature(declared.inputs).parameters.values())
    usage = ", ".join(str(p).replace("'", "") for p in parameters)
    usage = f"{declared.name} takes ({usage})" if parameters else f"{declared.name} takes no arguments"
    required = sum(p.default is p.empty for p in parameters)
    if not required <= len(values) <= len(parameters):
        count = str(required) if required == len(parameters) else f"{required} to {len(parameters)}"
        raise ValueError(f"{usage}: {count} argument(s), not {len(values)}")
    out: list = []
    for position, (parameter, value) in enumerate(zip(parameters, values, strict=False), start=1):
        wanted = kind(parameter)
        parts = value.split(",")
        if wanted == "int" and value.lstrip("-").isdigit():
            out.append(int(value))
        elif wanted == "tuple[int, int]" and len(parts) == 2 and all(v.lstrip("-").isdigit() for v in parts):
            out.append(tuple(int(v) for v in parts))
        elif wanted == "str":
            out.append(value)
        else:
            example = {"int": "a whole number", "tuple[int, int]": "two whole numbers, as 14,14"}.get(wanted, wanted)
            raise ValueError(f"{usage}: argument {position} ({parameter.name}) is {value!r}, it should be {example}")
    return out


def expected(error: BaseException) -> bool:
    """True for the package's own errors (its error types, or a ValueError it raised about an input)."""
    if type(error).__module__.startswith("pixelcnn"):
        return True
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    here = os.path.dirname(os.path.abspath(__file__)) + os.sep
    return isinstance(error, ValueError) and tb is not None and tb.tb_frame.f_code.co_filename.startswith(here)


def describe(error: BaseException) -> str:
    """One line for an error: the package's own messages as they are, anything else with its type."""
    message = " ".join(str(error).split())
    return message if expected(error) and message else f"{type(error).__name__}: {message}"


def main(argv: list[str] | None = None) -> None:
    """Run the command line; errors exit with status 1 and a one-line message (argparse's own: 2)."""
    args = build_parser().parse_args(argv)
    debug = args.debug or os.environ.get("PIXELCNN_DEBUG") == "1"
    try:
        run(args)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"{PROG}: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as error:
        if debug:
            raise
        print(f"{PROG}: error: {describe(error)}", file=sys.stderr)
        if not expected(error):
            print("(an unexpected error: rerun with --debug to see where it happened)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
