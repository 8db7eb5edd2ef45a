"""Make the README's two screenshots of the variability explorer: a source page and the eta-V plot.

Usage::

    python scripts/screenshots.py                      # builds a small field, then shoots
    python scripts/screenshots.py --state-dir demo-output/state --data-root demo-output \\
        --source nvss/J150803+464410                   # shoots an existing database (the demo)

Without ``--state-dir`` it builds, in a temporary directory, what the tests use: ten daily
images of a simulated field (real FITS files from ``simulation.make_fits_image``, measured by a
real batch photometry job, normalized against reference sources) with one source in an
ESE-like dip, plus 2,000 simulated sources over 30 epochs (``simulation.simulate_lightcurves``)
so that the eta-V plot shows a population. Then it serves the database on a loopback port and
takes the pictures with headless Debian Chromium (Playwright): ``docs/img/source-page.png``
(the dipping source) and ``docs/img/eta-v.png``. An existing database is copied first: serving
it runs the migrations, and the original is left untouched.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")


def build_field(root: Path):
    """Build the small field; return (settings, data_root, "catalog/source_id" of the dipper)."""
    sys.path.insert(0, str(ROOT))
    from tests.api.pipeline import build_pipeline, pipeline_settings

    from dsa110_contimg.photometry.normalize import normalize_all
    from dsa110_contimg.simulation.lightcurves import (
        simulate_lightcurves,
        write_simulated_photometry,
    )

    data_root = root / "data"
    data_root.mkdir(parents=True)
    settings = pipeline_settings(root / "state", data_root)
    pipe = build_pipeline(settings, data_root)
    targets = [{"snr": float(s)} for s in (10 ** __import__("numpy").linspace(1.2, 2.6, 1950))]
    targets += [
        {"snr": 80, "dip_depth": d, "dip_epochs": 6, "dip_start": 18}
        for d in (0.1, 0.2, 0.3, 0.4)
    ]
    sim = simulate_lightcurves(
        n_epochs=30,
        n_references=40,
        targets=targets,
        gain_scatter=0.04,
        field_center=(210.0, 40.0),
        field_radius_deg=1.5,
        image_prefix="field2",
        start_mjd=60700.0,
        seed=11,
    )
    write_simulated_photometry(sim, settings=settings)
    normalize_all(settings=settings)
    return settings, data_root, f"nvss/{pipe.dipper}"


def serve(settings):
    import uvicorn

    from dsa110_contimg.api import create_app
    from dsa110_contimg.cli.serve import bind_socket

    sock = bind_socket("127.0.0.1", 0)
    srv = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    if not srv.started:
        raise RuntimeError("the server did not start")
    return f"http://127.0.0.1:{sock.getsockname()[1]}", srv, thread


def shoot(base: str, source: str, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    catalog, _, source_id = source.partition("/")
    made = []
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                              args=["--no-sandbox", "--disable-gpu"])
        page = b.new_page(viewport={"width": 1360, "height": 1000})
        page.goto(f"{base}/sources/{quote(catalog, safe='')}/{quote(source_id, safe='')}")
        page.wait_for_selector("#lc-plot canvas")
        page.wait_for_function("document.getElementById('cutouts').dataset.loaded !== undefined")
        page.wait_for_function(
            "[...document.querySelectorAll('#cutouts img')].every(i => i.complete)"
        )
        path = out / "source-page.png"
        page.screenshot(path=str(path), full_page=True)
        made.append(path)
        page.goto(f"{base}/variability")
        page.wait_for_function("(document.getElementById('etav').dataset.drawn || '') !== ''")
        path = out / "eta-v.png"
        page.screenshot(path=str(path), full_page=True)
        made.append(path)
        b.close()
    return made


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--state-dir", type=Path, help="an existing state directory (copied)")
    ap.add_argument("--data-root", type=Path, help="data root of the images of --state-dir")
    ap.add_argument("--source", help="catalog/source_id of the source page to shoot")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = ap.parse_args(argv)
    if not CHROMIUM.exists():
        print("needs /usr/bin/chromium (Debian package 'chromium')", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="contimg-shots-") as tmp:
        root = Path(tmp)
        if args.state_dir:
            from dsa110_contimg.config import Settings

            if not args.source:
                ap.error("--source is needed with --state-dir")
            shutil.copytree(args.state_dir, root / "state")
            roots = [args.data_root] if args.data_root else []
            settings = Settings(state_dir=root / "state", api={"data_roots": roots})
            source = args.source
        else:
            settings, _, source = build_field(root)
        base, srv, thread = serve(settings)
        try:
            for path in shoot(base, source, args.out):
                print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        finally:
            srv.should_exit = True
            thread.join(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
