"""What ``python -m evaluation`` prints: the table as the README shows it, and whether the
issue's targets hold."""

from __future__ import annotations

import argparse
from typing import Any

from evaluation.conditions import NUMBERS, SINGLE

OVERALL_TARGET = 0.99
CONDITION_TARGET = 0.97


def markdown(rows: list[dict[str, Any]], args: argparse.Namespace, seconds: float) -> str:
    """The table as the README shows it."""

    def percent(value: float | None) -> str:
        return "" if value is None else f"{100 * value:.1f} %"

    chosen = f"--set {args.set}" if args.seed is None else f"--seed {args.seed}"
    command = f"python -m evaluation {chosen} --count {args.count}"
    if args.conditions:
        command += f" --conditions {args.conditions}"
    if args.baseline:
        command += f" --baseline {args.baseline}"
    lines = [
        f"`{command}` ({seconds:.0f} s)",
        "",
        "| condition | photos | read right | boxes | digits right | same digits as MNIST arrays |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['condition']} | {row['photos']} | {percent(row['accuracy'])} | "
            f"{percent(row['boxes'])} | {percent(row['digit_accuracy'])} | "
            f"{percent(row['mnist_accuracy'])} |"
        )
    return "\n".join(lines)


def targets(rows: list[dict[str, Any]]) -> list[str]:
    """PASS/FAIL lines for the issue's targets, on the conditions that were run."""
    by_name = {row["condition"]: row for row in rows}
    verdicts = []
    overall = by_name.get("all single digits")
    if overall:
        verdicts.append(
            _verdict(
                overall["accuracy"] >= OVERALL_TARGET,
                f"single digits overall {100 * overall['accuracy']:.2f} % (target >= 99 %)",
            )
        )
        worst = min((by_name[c] for c in SINGLE if c in by_name), key=lambda r: r["accuracy"])
        verdicts.append(
            _verdict(
                worst["accuracy"] >= CONDITION_TARGET,
                f"worst condition {worst['condition']} {100 * worst['accuracy']:.1f} % "
                "(target >= 97 % each)",
            )
        )
    if overall:
        missed = sum(
            row["no_digit_on_digits"] for row in rows if not row["condition"].startswith("all")
        )
        verdicts.append(
            _verdict(missed == 0, f"no_digit on {missed} photos of a digit (target: none)")
        )
    blank = by_name.get("all without a digit")
    if blank:
        verdicts.append(
            _verdict(
                blank["accuracy"] == 1.0,
                f"no_digit on {100 * blank['accuracy']:.1f} % of the photos without one "
                "(target 100 %)",
            )
        )
    for name in NUMBERS:
        if name in by_name:
            verdicts.append(
                f"INFO {name}: {100 * by_name[name]['accuracy']:.1f} % of numbers, "
                f"{100 * by_name[name]['digit_accuracy']:.1f} % of digits read right"
            )
    return verdicts


def _verdict(ok: bool, text: str) -> str:
    return f"{'PASS' if ok else 'FAIL'} {text}"
