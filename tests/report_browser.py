"""Open a `ctiscope report` HTML file in headless Chromium with the network cut off, and say
what the page shows, as one JSON object on stdout (tests/report_html.rs reads it).

    python report_browser.py REPORT.html OUTDIR [--click FRAME] [--scroll]

Chromium is /usr/bin/chromium (or $CTISCOPE_CHROMIUM), driven by Playwright for Python;
screenshots of the ladder, the agent states and the whole page go to OUTDIR.
"""

import json
import os
import sys
import tempfile
import time

from playwright.sync_api import sync_playwright

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Any name lookup fails: nothing can leave the machine even if a request slipped by.
    "--host-resolver-rules=MAP * ~NOTFOUND",
]

# Distinct colours of a PNG, counted by the page itself (no imaging library needed).
COUNT_COLOURS = """async (b64) => {
  const img = new Image();
  img.src = 'data:image/png;base64,' + b64;
  await img.decode();
  const c = document.createElement('canvas');
  c.width = img.width; c.height = img.height;
  const g = c.getContext('2d');
  g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  const seen = new Set();
  for (let i = 0; i < d.length; i += 4) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
  return {width: c.width, height: c.height, colours: seen.size};
}"""

FACTS = """() => {
  const attr = (sel, a) => Array.from(document.querySelectorAll(sel)).map(e => e.getAttribute(a));
  return {
    ready: document.body.getAttribute('data-ready'),
    sessions: attr('.sessions .vrow', 'data-conn'),
    findings: attr('.findings .vrow', 'data-frames'),
    groups: attr('section.findings table tr[data-rule]', 'data-rule'),
    agents: attr('svg.gantt [data-agent]', 'data-agent'),
    state_bars: attr('svg.gantt rect.bar[data-frames]', 'data-frames'),
    calls: attr('svg.calls [data-call]', 'data-call'),
    call_marks: attr('svg.calls rect.mark', 'data-frame'),
    latency: attr('.card[data-request]', 'data-request'),
    arrows: attr('svg.ladder g.msg', 'data-frame'),
    arrow_kinds: attr('svg.ladder g.msg', 'data-kind'),
    finding_marks: attr('svg.ladder circle.finding', 'data-frame'),
    lanes: attr('.ladder-lanes [data-lane]', 'data-lane'),
    notes: Array.from(document.querySelectorAll('.note')).map(e => e.textContent),
    scripts: document.querySelectorAll('script').length,
    text: document.body.innerText.length,
  };
}"""


def main():
    html, outdir = os.path.abspath(sys.argv[1]), sys.argv[2]
    click = None
    scroll = "--scroll" in sys.argv
    if "--click" in sys.argv:
        click = sys.argv[sys.argv.index("--click") + 1]
    os.makedirs(outdir, exist_ok=True)
    out = {"requests": [], "errors": [], "dialogs": []}
    exe = os.environ.get("CTISCOPE_CHROMIUM", "/usr/bin/chromium")
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            profile, executable_path=exe, args=ARGS, headless=True, offline=True,
            viewport={"width": 1400, "height": 900}, device_scale_factor=1,
        )
        # Every request but the file itself is refused, and recorded.
        def route(r):
            if r.request.url.startswith("file://") and r.request.url.split("#")[0] == "file://" + html:
                r.continue_()
            else:
                out["requests"].append(r.request.url)
                r.abort()
        ctx.route("**/*", route)
        page = ctx.new_page()
        page.on("pageerror", lambda e: out["errors"].append(str(e)))
        page.on("console", lambda m: out["errors"].append(m.text) if m.type == "error" else None)
        page.on("dialog", lambda d: (out["dialogs"].append(d.message), d.dismiss()))
        page.on("request", lambda r: None if r.url.startswith("file://") or r.url.startswith("data:") else out["requests"].append(r.url))
        start = time.monotonic()
        page.goto("file://" + html)
        page.wait_for_selector('body[data-ready="1"]', timeout=120_000)
        out["open_seconds"] = round(time.monotonic() - start, 2)
        out.update(page.evaluate(FACTS))
        if scroll:
            # Scroll the ladder through its whole height in 100 steps, each step waiting for
            # the frame that redraws it: the slowest step says whether scrolling is smooth.
            r = page.evaluate("""async () => {
              const s = document.querySelector('.ladder-scroll');
              const frame = () => new Promise(r => requestAnimationFrame(() => r()));
              const steps = [];
              for (let k = 0; k < 100; k++) {
                const t = performance.now();
                s.scrollTop = (s.scrollHeight - s.clientHeight) * k / 99;
                await frame(); await frame();
                steps.push(performance.now() - t);
              }
              steps.sort((a, b) => a - b);
              return {total: steps.reduce((a, b) => a + b, 0) / 1000, max: steps[steps.length - 1], median: steps[50]};
            }""")
            out["scroll_seconds"] = round(r["total"], 2)
            out["scroll_step_max_ms"] = round(r["max"], 1)
            out["scroll_step_median_ms"] = round(r["median"], 1)
            out["arrows_after_scroll"] = page.evaluate("() => document.querySelectorAll('svg.ladder g.msg').length")
            page.evaluate("() => { const s = document.querySelector('.ladder-scroll'); s.scrollTop = 0; s.dispatchEvent(new Event('scroll')); }")
            page.wait_for_timeout(100)
        if click:
            # Bring the frame into the ladder's window with the "Go to" box, close the panel
            # that opens, then click the arrow itself.
            page.fill("section.view.ladder .toolbar input[type=search]", click)
            page.press("section.view.ladder .toolbar input[type=search]", "Enter")
            page.wait_for_selector('#detail[data-loaded="1"]', timeout=20_000)
            page.click("#detail-close")
            if page.is_visible("#detail"):
                raise SystemExit("the close button left the tree panel open")
            arrow = page.locator('svg.ladder g.msg[data-kind="message"][data-frame="%s"]' % click).first
            arrow.locator("text.label").first.click()
            page.wait_for_selector('#detail[data-loaded="1"]', timeout=20_000)
            out["detail_frame"] = page.get_attribute("#detail", "data-frame")
            out["detail_tree"] = page.inner_text("#detail-tree")
            out["detail_title"] = page.inner_text("#detail-title")
            out["selected"] = page.evaluate("() => Array.from(document.querySelectorAll('svg.ladder .msg.selected')).map(e => e.getAttribute('data-frame'))")
        if page.is_visible("#detail"):
            page.click("#detail-close")
        if "--call-view" in sys.argv:
            # The first call's name opens its ladder across sessions.
            page.locator("svg.calls .row-label").first.click()
            page.wait_for_timeout(200)
            out["call_view"] = page.eval_on_selector("section.view.ladder .toolbar select", "e => e.value")
            out["call_arrows"] = page.evaluate("""() => Array.from(document.querySelectorAll(
              'svg.ladder g.msg[data-kind="message"] > title')).map(e => e.textContent)""")
            out["call_lanes"] = page.evaluate("() => Array.from(document.querySelectorAll('.ladder-lanes [data-lane]')).map(e => e.getAttribute('data-lane'))")
        shots = {}
        for name, sel in [("ladder", "section.view.ladder"), ("agents", "section.view.agents"),
                          ("calls", "section.view.calls"), ("latency", "section.view.latency"),
                          ("overview", "section.view.overview")]:
            el = page.locator(sel).first
            if el.count() == 0:
                continue
            path = os.path.join(outdir, name + ".png")
            el.screenshot(path=path)
            with open(path, "rb") as f:
                import base64
                shots[name] = page.evaluate(COUNT_COLOURS, base64.b64encode(f.read()).decode())
            shots[name]["path"] = path
        out["screenshots"] = shots
        # Print to PDF is Chromium's own: the print style must give a document of pages.
        pdf = os.path.join(outdir, "report.pdf")
        page.emulate_media(media="print")
        page.pdf(path=pdf)
        out["pdf_bytes"] = os.path.getsize(pdf)
        ctx.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
