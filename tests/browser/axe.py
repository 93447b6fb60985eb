"""Run axe-core on the page a browser shows, from the copy vendored in this repository.

axe-core is injected from `tests/browser/vendor/axe.min.js` (pinned in package.json and
package-lock.json; see the README there), never fetched: the tests need no network.
The bar is WCAG 2.1 A and AA plus axe's best practices, and a page fails on any violation
whose impact is serious or critical; minor and moderate ones are reported, not failed.
"""

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

VENDORED = Path(__file__).parent / "vendor" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
FAILING_IMPACTS = ("serious", "critical")

_RUN = """
const [options, done] = [arguments[0], arguments[arguments.length - 1]];
axe.run(document, options)
  .then(result => done({violations: result.violations.map(v => ({
      id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
      nodes: v.nodes.map(n => ({target: n.target, html: n.html, impact: n.impact,
                                summary: n.failureSummary}))}))}))
  .catch(error => done({error: String(error && error.stack || error)}));
"""


@cache
def axe_source() -> str:
    return VENDORED.read_text(encoding="utf-8")


def axe_version() -> str:
    """The version in the vendored file's licence header ("/*! axe v4.14.1")."""
    first = axe_source().split("\n", 1)[0]
    return first.removeprefix("/*! axe v").strip()


@dataclass(frozen=True)
class Violation:
    page: str
    rule: str
    impact: str
    help: str
    help_url: str
    nodes: tuple[tuple[str, str, str], ...]  # (selector, HTML snippet, what fails)

    def describe(self, pages: list[str] | None = None) -> str:
        lines = [f"[{self.impact}] {self.rule}: {self.help} ({self.help_url})"]
        lines.extend(f"  on {page}" for page in pages or [self.page])
        for selector, html, summary in self.nodes[:8]:
            lines.append(f"  - {selector}\n      {html[:300]}")
            lines.extend(f"      {line}" for line in summary.splitlines()[:4])
        if len(self.nodes) > 8:
            lines.append(f"  ... and {len(self.nodes) - 8} more elements")
        return "\n".join(lines)


def axe_violations(browser, page: str) -> list[Violation]:
    """Every violation axe finds on the page the browser shows now, `page` naming it in
    the report. Raises if axe itself could not run."""
    if not browser.execute_script("return typeof window.axe === 'object'"):
        browser.execute_script(axe_source())
    browser.set_script_timeout(60)
    # No rule is switched off: a page that fails one is fixed, not excused.
    options = {"runOnly": {"type": "tag", "values": TAGS}, "resultTypes": ["violations"]}
    result = browser.execute_async_script(_RUN, options)
    if "error" in result:
        raise RuntimeError(f"axe-core could not run on {page}: {result['error']}")
    return [Violation(page=page, rule=v["id"], impact=v["impact"] or "", help=v["help"],
                      help_url=v["helpUrl"],
                      nodes=tuple((" ".join(json.dumps(t) if not isinstance(t, str) else t
                                            for t in n["target"]),
                                   n["html"], n.get("summary") or "")
                                  for n in v["nodes"]))
            for v in result["violations"]]


def failing(violations: list[Violation]) -> list[Violation]:
    return [v for v in violations if v.impact in FAILING_IMPACTS]


def report(violations: list[Violation]) -> str:
    """Each distinct failure once, with every page (and width) it was seen on."""
    pages: dict[tuple, list[str]] = {}
    first: dict[tuple, Violation] = {}
    for violation in violations:
        key = (violation.rule, violation.nodes)
        first.setdefault(key, violation)
        pages.setdefault(key, []).append(violation.page)
    return "\n\n".join(first[key].describe(pages[key]) for key in first)


def assert_accessible(browser, page: str) -> None:
    """Fail when axe finds a serious or critical violation on the page shown now."""
    found = failing(axe_violations(browser, page))
    assert not found, (f"{len(found)} serious or critical accessibility violation(s):\n\n"
                       + report(found))
