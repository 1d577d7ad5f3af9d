"""The `parentbot` commands about the NLU model and the safeguarding gate: train, evaluate and
evaluate-gate."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

from bot.config import ConfigError, Settings
from bot.nlu.model import ProjectPaths


def _paths(settings: Settings) -> ProjectPaths:
    return ProjectPaths(settings.project_dir.resolve())


def train_command(args: argparse.Namespace, settings: Settings) -> int:
    from bot.nlu.model import current_model, train

    paths = _paths(settings)
    existing = current_model(paths)
    if existing is not None and not args.force:
        print(f"Model is up to date: {existing}")
        return 0
    started = time.perf_counter()
    model = train(paths)
    print(f"Trained {model} in {time.perf_counter() - started:.1f} s")
    return 0


def evaluate_command(args: argparse.Namespace, settings: Settings) -> int:
    from bot.nlu.evaluate import (
        EvaluationFileError,
        cross_validate,
        format_cross_validation,
        format_report,
        overlap,
        predict,
        read_examples,
        score,
        training_texts,
    )
    from bot.services import load_nlu

    if args.cross_validation:
        reports = cross_validate(_paths(settings).root, folds=args.folds)
        print(format_cross_validation(reports, show_errors=args.errors))
        return 0
    if not args.files:
        print("parentbot evaluate: give FILE.tsv ... or --cross-validation", file=sys.stderr)
        return 2
    try:
        test_sets = [(file, read_examples(file)) for file in args.files]
    except (OSError, EvaluationFileError) as error:
        print(f"parentbot evaluate: {error}", file=sys.stderr)
        return 2
    nlu = load_nlu(settings)
    trained = training_texts(_paths(settings).nlu)
    for file, examples in test_sets:
        started = time.perf_counter()
        predicted = asyncio.run(predict(nlu, examples))
        elapsed = time.perf_counter() - started
        if len(test_sets) > 1:
            print(f"\n== {file}")
        report = score(examples, predicted)
        print(format_report(report, show_errors=args.errors))
        print(overlap(examples, report, trained).describe(report.total))
        print(f"\nparsed {len(examples)} messages in {elapsed:.2f} s")
    return 0


def evaluate_gate_command(args: argparse.Namespace, settings: Settings) -> int:
    """The gate's figures, or (--validate) its thresholds chosen again: a developer's tool kept in the
    repository's scripts/gate_report.py, outside the package the running bot imports."""
    report = _repository_script("gate_report")
    if args.validate:
        return int(report.validate_gate(_paths(settings).nlu))
    return int(report.evaluate_gate(args.files, details=args.details, settings=settings))


def _repository_script(name: str) -> ModuleType:
    """scripts/NAME.py of the repository this package is in, loaded as a module."""
    path = Path(__file__).resolve().parents[2] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"scripts.{name}", path)
    if spec is None or spec.loader is None or not path.is_file():
        raise ConfigError(f"{path} is missing: run this command from the parentbot repository")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # before it runs: its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module
