"""Take the README's screenshot of a chapter from a built book (headless Chromium, offline).

Usage: python scripts/take_screenshot.py [HTML_DIR] [--page notebooks/NN_name.html]
       [--out book/_static/screenshot.png]   (run the main command first)
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("browser_check",
                                              ROOT / "scripts" / "browser_check.py")
browser_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(browser_check)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", nargs="?", type=Path, default=ROOT / "_build" / "html")
    parser.add_argument("--page", default="notebooks/03_convolution_and_channels.html")
    parser.add_argument("--out", type=Path, default=ROOT / "book" / "_static" / "screenshot.png")
    parser.add_argument("--size", default="1200,1040", help="window width,height in pixels")
    parser.add_argument("--anchor", default="feature-maps-of-a-real-photo",
                        help="scroll this element id to the top")
    args = parser.parse_args()
    browser_check.ensure_chromium()
    server, base = browser_check.serve(args.html.resolve())
    profile = tempfile.mkdtemp(prefix="lenet-chromium-")
    driver = browser_check.make_driver(profile)
    try:
        driver.set_window_size(*map(int, args.size.split(",")))
        driver.get(base + args.page)
        driver.execute_async_script(browser_check._RENDER_JS)
        if args.anchor:
            driver.execute_script("document.getElementById(arguments[0]).scrollIntoView()",
                                  args.anchor)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(args.out))
    finally:
        driver.quit()
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)
    from PIL import Image  # 256 colours: a third of the size, no visible loss for a page

    Image.open(args.out).convert("RGB").quantize(256).save(args.out, optimize=True)
    print(f"screenshot of {args.page}: {args.out} ({args.out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
