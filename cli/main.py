"""Argument parsing for run.py; each command lives in its own module."""

from __future__ import annotations

import argparse
import sys

from core.errors import UserError


def task_names() -> tuple[str, ...]:
    """The registered tasks."""
    from tasks.registry import tasks

    return tuple(t.name for t in tasks())


class _TaskChoices:
    """The task names, looked up only when a command checks or prints them: finding the tasks imports
    their training code (scikit-learn and SciPy, about 100 MB), which `run`, `demo` and `bench` on a
    kiosk must not pay for just to build the command line."""

    def __init__(self, extra: tuple[str, ...] = ()):
        self.extra = extra

    def _names(self) -> tuple[str, ...]:
        return task_names() + self.extra

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __iter__(self):
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2: the contract's rule for bad input
        raise UserError(f"{self.prog}: {message}")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML configuration file (see config.example.yaml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one configuration key, e.g. --set crowding.max_people=2 (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="run.py", description="ATM Sentinel: watch an ATM booth through one camera.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    r = sub.add_parser("run", help="watch a camera, video file or stream")
    r.add_argument("--source", required=True, help="camera index (0), video file, or stream URL")
    r.add_argument("--model-dir", default="models/")
    r.add_argument("--events", help="append events here as JSON lines")
    r.add_argument("--max-frames", type=int, help="stop after this many frames")
    r.add_argument("--hardware", choices=("auto", "mock", "none"), default="none")
    _common(r)

    d = sub.add_parser("demo", help="the whole cascade on a built-in synthetic booth scenario")
    d.add_argument("--model-dir", default="models/")
    d.add_argument("--events", help="also append the events here as JSON lines")
    d.add_argument("--save-video", help="write the scenario to this .avi/.mp4 file as well")
    d.add_argument("--hardware", choices=("auto", "mock", "none"), default="mock",
                   help="mock (default): gpiozero mock pins and a fake GSM modem on a pty")
    d.add_argument("--storage", help="keep the demo's event store, outbox and evidence here "
                                     "(default: a new temporary folder)")
    _common(d)

    t = sub.add_parser("train", help="fit what a task needs from a labelled folder")
    # A metavar, so argparse does not list the choices (and find the tasks) while building the parser.
    t.add_argument("--task", required=True, choices=_TaskChoices(("all",)), metavar="TASK",
                   help="one of: %(choices)s")
    t.add_argument("--dataset", required=True)
    t.add_argument("--model-dir", default="models/")
    _common(t)

    e = sub.add_parser("evaluate", help="score a labelled folder with saved models")
    e.add_argument("--task", required=True, choices=_TaskChoices(), metavar="TASK", help="one of: %(choices)s")
    e.add_argument("--dataset", required=True)
    e.add_argument("--model-dir", default="models/")
    e.add_argument("--out", required=True)
    e.add_argument("--cv", type=int, metavar="K",
                   help="instead of saved models: K-fold cross-validation grouped by source video")
    e.add_argument("--seed", type=int,
                   help="with --cv: the seed that shuffles groups into folds (default 0); task skimming: mixed into "
                        "each clip's patch seed, to place and draw the patches anew (default 0: from the clip's "
                        "path alone)")
    e.add_argument("--adversarial", action="store_true",
                   help="instead of the metrics: FGSM and PGD on the task's CNN over a sweep of epsilon "
                        "(adversarial.json, adversarial.png)")
    e.add_argument("--perturb", action="store_true",
                   help="also replay the footage with each camera perturbation (brightness, contrast, noise, blur, "
                        "JPEG, shake) at three strengths: perturb.json and perturb.png")
    # datasets/skim_patch.STYLES (not imported here: parsing stays free of OpenCV; a test keeps them equal).
    e.add_argument("--patch-style", choices=("block", "faint", "noise"),
                   help="task skimming: the pasted skimmer; block (default) stands out, faint blends in, noise is "
                        "random pixels (datasets/skim_patch.py)")
    e.add_argument("--patch-size", type=float, metavar="SHARE",
                   help="task skimming: the pasted skimmer's sides as a share of the fascia's (default 0.4)")
    e.add_argument("--roi-share", type=float, metavar="SHARE",
                   help="task skimming without a configured skimming.roi: the fascia chosen in each clip, its sides "
                        "as a share of the picture's (default 0.15); how the check fares with a region drawn "
                        "smaller or larger")
    e.add_argument("--trace", action="append", metavar="CLIP",
                   help="task skimming: write the live check's look-by-look trace of this clip's two runs (its "
                        "path under the dataset, file name or name) to OUT/trace/CLIP-clean.csv and "
                        "-patched.csv: why it raised or did not; may be given more than once")
    e.add_argument("--stage", choices=("cascade", "classical"),
                   help="cascade: stage 2 on escalated frames when a deep model is there (with --cv: trained per "
                        "fold too, and comparison.json puts both side by side); classical: the cheap stage alone. "
                        "Default: cascade, and classical with --cv")
    _common(e)

    x = sub.add_parser("export", help="write LiteRT .tflite files for the deep models")
    x.add_argument("--model-dir", default="models/")

    g = sub.add_parser("sign", help="sign a model folder with the key models.signing_key names (or --key)")
    g.add_argument("--model-dir", default="models/")
    g.add_argument("--key", help="the key file (kept outside the model folder)")
    _common(g)

    f = sub.add_parser("relearn", help="forget the learnt ATM fascia (after servicing the machine); the running "
                                       "service learns it again")
    f.add_argument("--roi", help="only this region's, as configured (skimming.roi or one of skimming.more_rois), "
                                 "e.g. 244,110,52,34: the machines not serviced keep what they learnt")
    _common(f)

    b = sub.add_parser("bench", help="measure the cost of each stage on a real clip")
    b.add_argument("--source", required=True)
    b.add_argument("--model-dir", default="models/")
    b.add_argument("--out", required=True)
    b.add_argument("--repeat", type=int, default=3, help="passes over the clip; the fastest is reported")
    _common(b)
    return p


def _check_outputs(args: argparse.Namespace) -> None:
    """Every path a command will write, checked before it starts working."""
    from cli.outputs import writable_dir, writable_file

    if getattr(args, "events", None):
        writable_file(args.events, "--events")
    if getattr(args, "save_video", None):
        writable_file(args.save_video, "--save-video", (".avi", ".mp4"))
    if args.command == "train":
        from tasks.registry import get

        task = get(args.task)
        if args.task == "all" or (task is not None and task.train is not None):
            writable_dir(args.model_dir, "--model-dir")
    if args.command == "evaluate":
        writable_dir(args.out, "--out")
        if args.seed is not None and not 0 <= args.seed < 2 ** 32:
            raise UserError(f"--seed must be between 0 and {2 ** 32 - 1}, got {args.seed}")
    if args.command == "bench":
        writable_file(args.out, "--out")
        if args.repeat < 1:
            raise UserError(f"--repeat must be at least 1, got {args.repeat}")


def dispatch(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "max_frames", None) is not None and args.max_frames < 1:
        raise UserError("--max-frames must be at least 1")
    _check_outputs(args)
    if args.command == "run":
        from cli.run_cmd import run
        return run(args)
    if args.command == "demo":
        from cli.demo_cmd import demo
        return demo(args)
    if args.command == "train":
        from cli.train_cmd import train
        return train(args)
    if args.command == "evaluate":
        from cli.train_cmd import evaluate
        return evaluate(args)
    if args.command == "sign":
        from cli.train_cmd import sign
        return sign(args)
    if args.command == "export":
        from cli.export_cmd import export
        return export(args)
    if args.command == "bench":
        from cli.bench_cmd import bench
        return bench(args)
    if args.command == "relearn":
        from cli.relearn_cmd import relearn
        return relearn(args)
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(dispatch())
