"""How fast the Triage page answers the keyboard, in a real browser against a fresh server.

    flock /tmp/heavy.lock .venv/bin/python benchmarks/bench_ui.py [--rounds 12] [--cache DIR]

Starts ``streamlit run serve.py`` on the bundled sample (sample_data/pets, the baseline series,
a new tag store in a temporary workspace), opens ``triage?annotator=bench`` in Debian's Chromium
(playwright) and presses each key ``--rounds`` times: J next, K previous, 1 / 2 / 3 decide (and
move on), N next undecided (from a decided query), U undo, T the tongue tag. For every press it
measures the time from the key press to the change on the page (the query's name, the undo
message, the tag's check mark) and to the end of the run (Streamlit idle again, the next query's
maps prepared); prints p50 / p95 per action. ``--cache`` copies a warm disk cache (e.g. the
project's .workbench/cache) so the numbers are not the first computation of every map; without
it the cache starts empty and each run's prefetch fills it. Needs /usr/bin/chromium and
playwright; one torch thread.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import CHROMIUM, CHROMIUM_ARGS, streamlit_server  # noqa: E402

NAME = "[data-testid='stMarkdownContainer'] code"  # the query's name in the navigation line
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"


def idle(page, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if page.locator(IDLE).count():
            page.wait_for_timeout(150)
            if page.locator(IDLE).count():
                return
        page.wait_for_timeout(20)
    raise RuntimeError("the app kept running for five minutes")


def shown(page) -> str:
    return page.locator(NAME).first.inner_text()


def press(page, key: str, changed: str, arg) -> tuple[float, float]:
    """Press ``key``; seconds until the JS predicate ``changed(arg)`` holds and until idle."""
    page.get_by_role("heading", name="Triage").click()  # focus on the page, not on a field
    t0 = time.perf_counter()
    page.keyboard.press(key)
    try:
        page.wait_for_function(changed, arg=arg, polling="raf", timeout=60_000)
    except Exception:
        page.screenshot(path=str(Path(tempfile.gettempdir()) / "bench_ui_failed.png"))
        raise RuntimeError(f"key {key!r}: the page did not change within 60 s") from None
    t1 = time.perf_counter()
    idle(page)
    return t1 - t0, time.perf_counter() - t0


NAME_CHANGED = f"""(before) => {{
  const el = document.querySelector("{NAME}");
  return el !== null && el.innerText !== before;
}}"""
TEXT_APPEARS = """(text) => document.body.innerText.includes(text)"""
TAG_FLIPPED = r"""(before) => {
  const b = [...document.querySelectorAll("button")].find(
      (x) => /^(✓\s*)?tongue(\s|$)/.test(x.innerText.trim()));
  return b !== undefined && x_on(b) !== before;
  function x_on(x) { return x.innerText.trim().startsWith("✓"); }
}"""


def tag_on(page) -> bool:
    return page.evaluate(
        r"""() => [...document.querySelectorAll("button")].some(
             (x) => /^✓\s*tongue(\s|$)/.test(x.innerText.trim()))"""
    )


def run(rounds: int, cache: Path | None) -> dict[str, list[tuple[float, float]]]:
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    cache_dir = work / "cache"
    if cache is not None:
        shutil.copytree(cache, cache_dir)
    env = {
        "WORKBENCH_WORKSPACE": str(work),
        "WORKBENCH_DATA": str(ROOT / "sample_data" / "pets"),
        "WORKBENCH_CHECKPOINTS": str(ROOT / "sample_data" / "series" / "baseline"),
        "WORKBENCH_STORE": str(work / "tags.sqlite"),
        "WORKBENCH_CACHE": str(cache_dir),
        "WORKBENCH_THREADS": "1",
        "OMP_NUM_THREADS": "1",
    }
    times: dict[str, list[tuple[float, float]]] = {}

    def note(action: str, t: tuple[float, float]) -> None:
        times.setdefault(action, []).append(t)
        if os.environ.get("BENCH_VERBOSE"):
            print(f"{action}: {t[0] * 1000:.0f} / {t[1] * 1000:.0f} ms", flush=True)

    try:
        with (
            streamlit_server(env, work / "server.log", entry="serve.py") as url,
            sync_playwright() as p,
        ):
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            t0 = time.perf_counter()
            page.goto(f"{url}/triage?annotator=bench")
            page.locator(NAME).first.wait_for(timeout=600_000)
            idle(page, 600)
            print(f"first open of Triage: {time.perf_counter() - t0:.1f} s", flush=True)
            for _ in range(rounds):
                note("J next", press(page, "j", NAME_CHANGED, shown(page)))
                note("K previous", press(page, "k", NAME_CHANGED, shown(page)))
                before = tag_on(page)
                note("T tag", press(page, "t", TAG_FLIPPED, before))
                for key, bucket in (("1", "worked"), ("2", "missed"), ("3", "spurious")):
                    note(f"{key} {bucket}", press(page, key, NAME_CHANGED, shown(page)))
                # back on the last decided query, N goes to the undecided one after it
                note("K previous", press(page, "k", NAME_CHANGED, shown(page)))
                note("N undecided", press(page, "n", NAME_CHANGED, shown(page)))
                note("U undo", press(page, "u", TEXT_APPEARS, "Undid your"))
            browser.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--cache", type=Path, default=None, help="a warm cache to copy")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    times = run(args.rounds, args.cache)
    print(
        f"{'action':<14} {'n':>3}  {'DOM p50':>8} {'DOM p95':>8}  {'idle p50':>8} {'idle p95':>8}"
    )
    for action, ts in times.items():
        dom = sorted(t[0] for t in ts)
        done = sorted(t[1] for t in ts)

        def q(xs: list[float], f: float) -> float:
            return xs[min(len(xs) - 1, round(f * (len(xs) - 1)))] * 1000

        print(
            f"{action:<14} {len(ts):>3}  {statistics.median(dom) * 1000:>6.0f}ms "
            f"{q(dom, 0.95):>6.0f}ms  {statistics.median(done) * 1000:>6.0f}ms "
            f"{q(done, 0.95):>6.0f}ms"
        )


if __name__ == "__main__":
    main()
