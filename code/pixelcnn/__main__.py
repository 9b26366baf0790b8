"""Command line of the pixelcnn package: data, training, evaluation, benchmarks and the report."""

from __future__ import annotations

import argparse
import json

from . import experiments


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pixelcnn", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train (or resume) named runs and cache their results")
    train.add_argument("names", nargs="+", help=f"run names ({', '.join(experiments.RUNS)}) or 'all'")
    # Lightning's Trainer options, passed through (data parallelism: batch_size is per device, the lr is not scaled)
    train.add_argument("--accelerator", default="auto", help="'cpu', 'gpu', 'auto', ... (default: auto)")
    train.add_argument("--devices", default="1", help="devices per node: a number, 'auto' or -1 for all (default: 1)")
    train.add_argument("--num-nodes", type=int, default=1, help="number of nodes (default: 1)")
    train.add_argument("--strategy", default="auto", help="'ddp', 'fsdp', 'auto', ... (default: auto)")
    sub.add_parser("data", help="fetch and verify MNIST")
    bench = sub.add_parser("bench", help="measure training and sampling speed side by side; saved for the report")
    bench.add_argument("--render", action="store_true", help="also time a warm-cache execution of the report")
    sub.add_parser("report", help="render the report (Quarto if installed, else a preview and a Colab notebook)")
    evaluate = sub.add_parser("evaluate", help="test bits/dim of a model on the full MNIST test set")
    evaluate.add_argument("name", help="'pretrained' or a run name")
    args = parser.parse_args(argv)

    if args.command == "data":
        from .data import ensure_mnist

        print(f"MNIST verified in {ensure_mnist()}")
    elif args.command == "train":
        from .training import train as train_run

        names = list(experiments.RUNS) if args.names == ["all"] else args.names
        configs = {name: experiments.config(name) for name in names}  # validate every name first
        if len(configs) > 1 and (args.devices != "1" or args.num_nodes > 1):
            parser.error("train one run at a time on several devices or nodes")
        devices = int(args.devices) if args.devices.lstrip("-").isdigit() else args.devices
        options = {"accelerator": args.accelerator, "devices": devices, "num_nodes": args.num_nodes,
                   "strategy": args.strategy}
        for name, config in configs.items():
            entry = train_run(config, **options)
            if entry is not None:  # None in the processes of ranks > 0
                print(f"{name}: {entry.folder.name} {json.dumps(entry.metrics)}")
    elif args.command == "bench":
        from .benchmark import run_and_cache, summary

        print(summary(run_and_cache(recompute=True, render=args.render).metrics))
    elif args.command == "report":
        from .report import build

        for path in build():
            print(f"wrote {path}")
    elif args.command == "evaluate":
        from .data import ensure_mnist, load_images
        from .training import evaluate as evaluate_model

        ensure_mnist()
        model = experiments.load(args.name)
        for split in ("val", "test"):
            bpd = evaluate_model(model, load_images(split), progress=True)
            print(f"{args.name} {split} bits/dim: {bpd:.4f}")


if __name__ == "__main__":
    main()
