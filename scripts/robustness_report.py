"""Regenerate the robustness report in SECURITY.md (the section between the report markers).

    python scripts/robustness_report.py            # short seeded runs, ~1-2 minutes
    python scripts/robustness_report.py --long     # the ADDRCODE_FUZZ_LONG sizes
    python scripts/robustness_report.py --stdout   # print the section instead of writing it

It runs the same measuring functions as the tests (tests/test_hostile_text.py, test_hostile_files.py,
test_faults.py, test_attackers.py), so the figures are the tested behaviour, not claims. Every row is a
count; a row that fails is reported as failing (the script never hides a failure), and the exit code is 1
if any row failed.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
SECURITY = ROOT / "SECURITY.md"
BEGIN, END = "<!-- robustness-report:begin -->", "<!-- robustness-report:end -->"


def _mark(ok: bool) -> str:
    return "pass" if ok else "**FAIL**"


class Report:
    def __init__(self):
        self.lines: list[str] = []
        self.failures: list[str] = []

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def check(self, ok: bool, what: str) -> str:
        if not ok:
            self.failures.append(what)
        return _mark(ok)


def hostile_text(rep: Report, work: Path, per_family: int) -> None:
    import test_hostile_text as H

    from addrcode.geocoding.build import build_reference

    ref = work / "text.sqlite"
    build_reference([TESTS / "data" / "oa_small.csv"], ref)
    t0 = time.perf_counter()
    stats = H.fuzz(ref, per_family=per_family, extra_jobs=H.make_code_jobs(work / "codes", ref))
    seconds = time.perf_counter() - t0
    rep.add("### Hostile text (`tests/test_hostile_text.py`)", "",
            f"Seeded fuzz run (seed 8): **{stats['inputs']:,} inputs** × {len(stats['status'])} stages "
            f"({', '.join(stats['status'])}), "
            f"each result rendered as text, JSONL and CSV and parsed back; longest input {stats['max_chars']:,} "
            f"characters; {seconds:.1f} s in all.", "",
            "| family | inputs |", "|---|---|")
    for family, n in stats["by_family"].items():
        rep.add(f"| {family} | {n} |")
    rep.add("", "| stage | ok | refused (by status) | exceptions | malformed records | slowest record |",
            "|---|---|---|---|---|---|")
    for stage, counts in stats["status"].items():
        problems = sum(1 for s, _, _ in stats["problems"] if s == stage)
        slow_s, slow_family = stats["slowest"][stage]
        ok = counts["error"] == 0 and problems == 0
        refused = ", ".join(f"{n} {st_}" for st_, n in counts.most_common() if st_ not in ("ok", "error")) or "0"
        rep.add(f"| {stage} | {counts['ok']} | {refused} | {counts['error']} | {problems} | "
                f"{slow_s * 1000:.0f} ms ({slow_family}) |")
        rep.check(ok, f"fuzz {stage}")
    total = sum(sum(c.values()) for c in stats["status"].values())
    k = len(stats["status"])
    rep.add("", f"Records out = records in for every stage: {total:,} = {k} × {stats['inputs']:,} "
                f"({rep.check(total == k * stats['inputs'], 'fuzz record count')}).", "")
    times = H.timing(ref)
    jobs = H.make_jobs(ref)
    rep.add(f"Time per record (best of 2) for lines of {len(H.SHAPES)} worst-case shapes; the slowest shape per "
            "stage, and the same shape at 1,000,000 characters (one run) for the growth rate:", "",
            "| stage | slowest shape | 10 kB | 100 kB | 1 MB | 100 kB under 1 s |", "|---|---|---|---|---|---|")
    for stage in ("normalize", "geocode", "encode"):
        shape = max((s for s, st_, n in times if st_ == stage and n == 100_000),
                    key=lambda s: times[(s, stage, 100_000)])
        small, big = times[(shape, stage, 10_000)], times[(shape, stage, 100_000)]
        huge = H._timed(jobs[stage], H.SHAPES[shape](1_000_000)[:1_000_000])
        rep.add(f"| {stage} | {shape} | {small * 1000:.1f} ms | {big * 1000:.1f} ms | {huge * 1000:.0f} ms | "
                f"{rep.check(big < 1.0, f'100 kB {stage}')} |")
    rep.add("", "(`normalize` reads at most 1,000 characters, so its time is flat. Small runs are flattered by warm "
                "caches: compare 100 kB with 1 MB for the growth rate.)", "")
    cli = H.cli_timing(ref, work / "cache")
    extra = cli["long_s"] - cli["short_s"]
    ok = extra < 1.0 and cli["long_lines"] == 1 and not cli["traceback"]
    rep.add(f"Through a real `addrcode encode` process: one short line {cli['short_s']:.2f} s, one 100 kB line "
            f"{cli['long_s']:.2f} s (start-up included): the long line costs {extra:+.2f} s, one output line "
            f"({rep.check(ok, '100 kB through the CLI')}).", "")


def hostile_files(rep: Report, work: Path) -> None:
    import test_hostile_files as F

    world = F.make_world(work / "world")
    rep.add("### Hostile files (`tests/test_hostile_files.py`)", "",
            "Each case through the CLI; *left behind* counts output, temporary and partial files that should not "
            "exist afterwards.", "",
            "| case | exit (expected) | message | left behind | result |", "|---|---|---|---|---|")
    passed = 0
    for i, case in enumerate(F.CASES):
        outcome = F.run_case(case, world, work / f"case{i}")
        problems = F.judge(case, outcome)
        message = outcome["message"] or next((ln for ln in outcome["stderr"].splitlines() if "line " in ln), "")
        if case.output and not message:
            message = "(finishes; bad rows rejected with their line number)" if outcome["exit"] == 1 else "(finishes)"
        message = str(message).replace(str(outcome["dir"]) + "/", "").replace(str(F.DATA) + "/", "tests/data/")
        message = message.replace("|", "\\|")[:140]
        outputs = [n for n in outcome["left"] if n.startswith(("out.", "ref.sqlite", "table.sqlite"))]
        left = [n for n in outcome["left"] if n.startswith(".")] + ([] if case.output else outputs)
        rep.add(f"| {case.name} | {outcome['exit']} ({case.exit_code}) | {message} | {len(left)} | "
                f"{rep.check(not problems, 'file case ' + case.name)} |")
        passed += not problems
    rep.add("", f"**{passed}/{len(F.CASES)} cases** behave as specified.", "")


def faults(rep: Report, work: Path) -> None:
    import test_faults as FT

    from addrcode.geocoding.build import build_reference

    ref = work / "faults.sqlite"
    build_reference([TESTS / "data" / "oa_small.csv"], ref)
    rep.add("### Faults (`tests/test_faults.py`)", "")
    kr = work / "kill"
    kr.mkdir()
    got = FT.kill_and_resume(ref, kr)
    ok = got["rows_out"] + got["rejects"] == got["rows_in"] and got["ids_exact"] and not got["leftovers"] \
        and not got["early_final"]
    rep.add(f"- SIGKILL of the whole process group (parent + 2 workers) mid-encode, **{got['kills']} kills**, "
            f"then `--resume`: rows in = rows out + rejects: **{got['rows_in']:,} = {got['rows_out']:,} + "
            f"{got['rejects']:,}**; every order id exactly once: {got['ids_exact']}; final file visible before the "
            f"end: {got['early_final']}; partial/journal files left: {len(got['leftovers'])} "
            f"({rep.check(ok and got['kills'] > 0, 'kill + resume')}).")
    dw = work / "disk"
    dw.mkdir()
    cases = FT.disk_full_cases(ref, dw)
    good = 0
    rows = []
    for name, args, final in cases:
        outcome = FT.disk_full_run(name, args, final, dw)
        problems = FT.disk_full_problems(outcome)
        good += not problems
        traceback = "yes" if outcome["traceback"] else "no"
        rows.append(f"| {name} | {outcome['limit']:,} B | {outcome['exit']} | {traceback} "
                    f"| {len(outcome['left']) + outcome['final_exists']} | "
                    f"{rep.check(not problems, 'disk full ' + name)} |")
    rep.add(f"- Disk full (RLIMIT_FSIZE, SIGXFSZ ignored so writes fail with EFBIG): **{good}/{len(cases)}** "
            "commands fail cleanly (exit 3, one `Error:` line naming the file, nothing left):", "",
            "  | command | limit | exit | traceback | files left | result |", "  |---|---|---|---|---|---|",
            *("  " + r for r in rows), "")
    fs = FT.mount_tiny_tmpfs()
    if fs is None:
        rep.add("- Real 64 kB tmpfs: not run (mounting needs root).")
    else:
        try:
            tw = work / "tmpfs"
            tw.mkdir()
            got = FT.tmpfs_run(ref, tw, fs)
        finally:
            FT.unmount(fs)
        ok = got["exit"] == 3 and "No space left on device" in got["stderr"] and not got["left"] \
            and got["again_rows"] == 20
        rep.add(f"- Real 64 kB tmpfs, 3,000 rows encoded onto it: exit {got['exit']} with \"No space left on device\", "
                f"{len(got['left'])} files left on it; with room again, 20 of 20 rows written "
                f"({rep.check(ok, 'tmpfs')}).")
    if FT.unprivileged() is None:
        rep.add("- Read-only reference: not run (root without setpriv).")
    else:
        got = FT.readonly_run(ref)
        ok = all(c == 0 and good_ for c, good_, _ in got["results"].values()) and not got["touched"]
        rep.add(f"- Reference and station table in a directory chmod 555 (files 444), used as {got['user']}: "
                + ", ".join(f"{cmd} exit {c}" for cmd, (c, _, _) in got["results"].items())
                + f"; files created or modified there: {'some' if got['touched'] else 0} "
                  f"({rep.check(ok, 'read-only')}).")
    rep.add("")


def attackers(rep: Report, work: Path, long: bool) -> None:
    import test_attackers as A

    world = A.World(work / "attack")
    rep.add("### Attackers (`tests/test_attackers.py`)", "")
    ind = A.code_independence()
    rep.add(f"Opaque parts of a 128 × 128 block of Vermont cells ({ind['cells']:,} cells, fixed test keys). "
            "Checks per opaque position (the smallest p-value of the 4 positions is shown): equal characters "
            "(expected 1/32 = 0.03125), uniformity of the related part, uniformity of the difference mod 32, and "
            "a 32 × 32 independence table. The leaky controls show the checks have power.", "",
            "| pairs | n | equal share | z | p uniform | p difference | p independence | verdict |",
            "|---|---|---|---|---|---|---|---|")
    for name, r in ind.items():
        if not isinstance(r, dict):
            continue
        control = name.startswith("control")
        verdict = A.passes(r)
        label = ("looks independent" if verdict else "dependence detected")
        rep.add(f"| {name} | {r['pairs']:,} | {r['equal_share']:.4f} | {r['equal_z']:+.2f} | {r['p_uniform']:.3g} | "
                f"{r['p_diff']:.3g} | {r['p_joint']:.3g} | {label} "
                f"({rep.check(verdict != control, 'independence ' + name)}) |")
    rep.add("")
    for which, path in (("full table", world.table), ("station extract", world.extract)):
        scan = A.table_scan(world, path)
        rep.add(f"Byte scan of a signed {which} ({scan['bytes']:,} bytes) built from `tests/data/oa_small.csv`:", "",
                "| looked for | tried | found |", "|---|---|---|")
        for key, tried in scan["tried"].items():
            found = scan["found"].get(key, 0)
            if key == "random cells (chance control)":
                ok = True
            elif key == "cell indices":
                c = scan["found"].get("random cells (chance control)", 0)
                ok = found <= c + 3 * (c + 1) ** 0.5
            elif key == "coordinates as 4-byte floats":
                ok = found <= tried // 100  # chance ~0.3 of them; a leak stores every point
            else:
                ok = found == 0
            rep.add(f"| {key} | {tried:,} | {found} {'' if ok else '**FAIL**'} |")
            rep.check(ok, f"scan {which} {key}")
        rep.add("")
    t = A.flip_table(world, 3000 if long else 1000)
    s = A.flip_table(world, 512, region="signature")
    k = A.flip_keyring(world, work)
    p = A.flip_public_key(world, work)
    rep.add("| tampering | attempts | detected |", "|---|---|---|",
            f"| random single-byte changes anywhere in a station table ({t['bytes']:,} bytes) | {t['tries']:,} | "
            f"{t['detected']:,} ({rep.check(t['detected'] == t['tries'], 'table flips')}) |",
            f"| random single-byte changes in its signature slot ({s['bytes']} bytes) | {s['tries']} | {s['detected']} "
            f"({rep.check(s['detected'] == s['tries'], 'signature flips')}) |",
            f"| one change at every byte of a keyring ({k['bytes']} bytes) | {k['tries']} | {k['detected']} "
            f"({rep.check(k['detected'] == k['tries'] and not k['secrets_in_messages'], 'keyring flips')}); "
            f"secrets quoted in the error messages: {len(k['secrets_in_messages'])} |",
            f"| one changed hex digit at every position of the public key | {p['tries']} | {p['detected']} "
            f"({rep.check(p['detected'] == p['tries'], 'pub flips')}) |", "")
    leak_dir = work / "leaks"
    leak_dir.mkdir()
    leaks = A.leak_scan(world, leak_dir)
    rep.add(f"- Secrets in messages: **{leaks['commands']} command runs** (every command, success and error paths, "
            f"with a sentinel address and a real keyring) searched for {leaks['needles']} needles (the sentinel "
            f"street, each epoch secret and the signing seed as raw bytes, hex, HEX, base64, base32) in stderr, in "
            f"stdout where it is not data, in exceptions, in --resume journals, in the SVG labels and in the HTML "
            f"run report: **{len(leaks['leaks'])} found** "
            f"({rep.check(not leaks['leaks'], 'leaks')}).")
    perm_dir = work / "perm"
    perm_dir.mkdir()
    refused = tried = 0
    from addrcode.codes.keyring import load_keyring
    from addrcode.errors import KeyringError
    ring = perm_dir / "ring.json"
    ring.write_bytes(world.keyring_path.read_bytes())
    for mode in range(0o600, 0o700, 0o001):
        if mode & 0o600 != 0o600:
            continue
        os.chmod(ring, mode)
        if not mode & 0o077:
            continue
        tried += 1
        try:
            load_keyring(ring)
        except KeyringError:
            refused += 1
    rep.add(f"- Keyring modes readable/writable by group or others (0601 … 0677): **{refused}/{tried} refused** "
            f"({rep.check(refused == tried, 'modes')}); new keyrings are 0600 even under umask 000 (test).")
    fdir = work / "formula"
    fdir.mkdir()
    f = A.formula_check(fdir, world, A.HOSTILE_CELLS)
    rep.add(f"- Formula injection: {len(A.HOSTILE_CELLS)} hostile cells × 3 columns through normalize, geocode and "
            f"encode (`--with-coords`), output and rejects files: **{f['cells']:,} cells, "
            f"{len(f['formula_starts'])} a spreadsheet would evaluate** "
            f"({rep.check(not f['formula_starts'], 'formula')}).", "")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long", action="store_true", help="the long fuzz sizes (ADDRCODE_FUZZ_LONG)")
    parser.add_argument("--stdout", action="store_true", help="print the section instead of writing SECURITY.md")
    args = parser.parse_args(argv)
    if args.long:
        os.environ["ADDRCODE_FUZZ_LONG"] = "1"
    sys.path.insert(0, str(TESTS))
    sys.path.insert(0, str(ROOT))
    rep = Report()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="addrcode-report-") as tmp:
        work = Path(tmp)
        for name, section in (("text", lambda: hostile_text(rep, work / "t", 2000 if args.long else 40)),
                              ("files", lambda: hostile_files(rep, work / "f")),
                              ("faults", lambda: faults(rep, work / "x")),
                              ("attackers", lambda: attackers(rep, work / "a", args.long))):
            (work / {"text": "t", "files": "f", "faults": "x", "attackers": "a"}[name]).mkdir()
            print(f"robustness report: {name} ...", file=sys.stderr)
            section()
    header = [BEGIN, "",
              f"_Generated by `python scripts/robustness_report.py{' --long' if args.long else ''}` on "
              f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, commit {commit or '?'}, Python "
              f"{platform.python_version()}, {os.cpu_count()} cores, {time.perf_counter() - started:.0f} s. "
              f"Rows failing: {len(rep.failures)}._", ""]
    if rep.failures:
        header += ["**Failing rows:** " + "; ".join(rep.failures), ""]
    section = "\n".join(header + rep.lines + [END])
    if args.stdout:
        print(section)
    else:
        text = SECURITY.read_text(encoding="utf-8")
        if BEGIN not in text or END not in text:
            raise SystemExit(f"{SECURITY}: report markers {BEGIN} / {END} not found")
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: section, text, flags=re.S)
        SECURITY.write_text(text, encoding="utf-8")
        print(f"{SECURITY}: report section rewritten ({len(rep.failures)} failing rows)", file=sys.stderr)
    return 1 if rep.failures else 0


if __name__ == "__main__":
    sys.exit(main())
