"""Check the built documentation site: internal links, then a real browser.

``python tools/check_docs.py build/docs`` (``make docs-check``; CI runs it after ``make docs``):

1. **Links**: every ``href``/``src`` of every page under ``build/docs/html`` that points inside
   the site resolves to a file, and its ``#fragment`` to an element id of that page. External
   links are not fetched (CI has no general network).
2. **Browser**: headless Chromium (Debian's ``chromium``) opens the index, one env page and one
   tutorial from the folder, and the check asserts that each renders its main heading
   (``<h1>`` after the scripts ran) and that the site's search finds a word through its search
   index (``search.html?q=...`` lists results only when ``searchindex.js`` loaded). A
   screenshot of each page goes to ``build/docs/screenshots/``.

Exits 1 with one line per problem.
"""

from __future__ import annotations

import argparse
import html.parser
import shutil
import subprocess
import sys
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

PAGES = (
    ("index.html", "collabzoo"),
    ("generated/envs/collabzoo-TLDR-v1.html", "collabzoo/TLDR-v1"),
    ("tutorials/first-team.html", "Train your first team"),
)
"""(page, the text its main heading must start with) that the browser opens."""
SEARCH = ("search.html?q=joint+reward", "joint")
"""The search the browser runs, and a word every result page must contain."""
EXTERNAL = ("http:", "https:", "mailto:", "data:", "javascript:", "ftp:")


@dataclass
class Page:
    """The ids a page defines and the internal links it makes."""

    ids: set[str] = field(default_factory=set)
    links: list[str] = field(default_factory=list)
    h1: list[str] = field(default_factory=list)
    search_results: int = 0


class _Parser(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._in_h1 = 0
        self._in_results = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        for key in ("id", "name"):
            if values.get(key):
                self.page.ids.add(values[key])
        for key in ("href", "src"):
            if key in values and tag in ("a", "link", "img", "script", "iframe", "source"):
                self.page.links.append(values[key])
        if tag == "h1":
            self._in_h1 += 1
            self.page.h1.append("")
        if tag == "ul" and "search" in values.get("class", "").split():
            self._in_results = True
        if tag == "li" and self._in_results:
            self.page.search_results += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "h1" and self._in_h1:
            self._in_h1 -= 1
        if tag == "ul":
            self._in_results = False

    def handle_data(self, data: str) -> None:
        if self._in_h1:
            self.page.h1[-1] += data


def parse(text: str) -> Page:
    parser = _Parser()
    parser.feed(text)
    return parser.page


def check_links(site: Path) -> list[str]:
    """Broken internal links and anchors of every page of ``site`` (the html folder)."""
    site = site.resolve()
    pages = {path: parse(path.read_text(encoding="utf-8")) for path in site.rglob("*.html")}
    problems = []
    for path, page in sorted(pages.items()):
        for link in page.links:
            if not link or link.startswith(EXTERNAL) or link.startswith("//"):
                continue
            parts = urllib.parse.urlsplit(link)
            target = path if not parts.path else (path.parent / urllib.parse.unquote(parts.path))
            if parts.path.endswith("/"):
                target = target / "index.html"
            target = target.resolve()
            where = f"{path.relative_to(site)}: {link}"
            if not target.exists():
                problems.append(f"broken link {where} (no {target})")
            elif parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else set()
                if urllib.parse.unquote(parts.fragment) not in ids:
                    problems.append(f"broken anchor {where} (no id {parts.fragment!r})")
    return problems


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit("check_docs: no chromium on PATH (Debian: apt-get install chromium)")


def browse(binary: str, url: str, *, screenshot: Path | None = None) -> str:
    """The DOM of ``url`` after its scripts ran (or, with ``screenshot``, a PNG of it)."""
    command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--disable-dev-shm-usage", "--no-first-run", "--virtual-time-budget=10000"]
    if screenshot is not None:
        command += ["--window-size=1280,1400", f"--screenshot={screenshot}", url]
    else:
        command += ["--dump-dom", url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180)
    if result.returncode != 0:
        raise RuntimeError(f"chromium failed on {url}: {result.stderr[-1000:]}")
    return result.stdout


def check_browser(site: Path, shots: Path) -> list[str]:
    """Headings and search in a real browser; screenshots under ``shots``."""
    binary = chromium()
    shots.mkdir(parents=True, exist_ok=True)
    problems = []
    for page, heading in PAGES:
        url = (site / page).resolve().as_uri()
        h1 = [h.strip().rstrip("#¶").strip() for h in parse(browse(binary, url)).h1]
        if not h1 or not h1[0].startswith(heading):
            problems.append(f"{page}: main heading {h1[:1]} does not start with {heading!r}")
        shot = shots / (page.replace("/", "_").removesuffix(".html") + ".png")
        browse(binary, url, screenshot=shot)
        if not shot.exists() or shot.stat().st_size < 10_000:
            problems.append(f"{page}: no screenshot at {shot}")
    query, word = SEARCH
    search_url = (site / "search.html").resolve().as_uri() + "?" + query.split("?", 1)[1]
    dom = browse(binary, search_url)
    results = parse(dom).search_results
    if results == 0:
        problems.append(f"{query}: the search listed no result (searchindex.js not loaded?)")
    browse(binary, search_url, screenshot=shots / "search.png")
    print(f"check_docs: browser: {len(PAGES)} pages rendered their headings; "
          f"search for {word!r} listed {results} results; screenshots in {shots}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build", type=Path, help="the docs build folder (holds html/)")
    parser.add_argument("--no-browser", action="store_true", help="check the links only")
    args = parser.parse_args(argv)
    site = args.build / "html"
    if not (site / "index.html").exists():
        print(f"check_docs: no site at {site} (run make docs)", file=sys.stderr)
        return 1
    problems = check_links(site)
    print(f"check_docs: links: {len(list(site.rglob('*.html')))} pages, "
          f"{len(problems)} broken internal links or anchors")
    if not args.no_browser:
        problems += check_browser(site, args.build / "screenshots")
    for problem in problems:
        print(f"check_docs: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
