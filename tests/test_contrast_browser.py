"""Readable in both themes: the Gradio chat and the widget in a real Chromium, with the OS
set to light and to dark, rendering an answer (highlighted quote, sources, an unsupported
sentence and a note) and a refusal. Every visible piece of text in those components must
reach WCAG AA contrast against the background it is actually drawn on (4.5:1, 3:1 for
large text). Screenshots at 1366x900 and 390x844 go to test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CHROMIUM_ARGS, require_chromium
from tests.test_ui_browser import chat_through_llm

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
ANSWERABLE = "Can my company export rare earth concentrate from Malaysia?"
OFF_TOPIC = "Who won the 2022 FIFA World Cup?"
WIDGET = "market-intelligence-widget"
VIEWPORTS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}

# For every visible element with its own text (and every ::before/::after with text) under
# `root`, crossing open shadow roots: its text colour, the background it is drawn on (the
# ancestors' background colours composited from the first opaque one up, and each
# ancestor's opacity applied to the text), and the contrast ratio between the two.
MEASURE_CONTRAST = """
(root) => {
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = 1;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  // Any CSS colour (rgb, color(srgb ...), oklab, color-mix results) as [r, g, b, a].
  const rgba = (color) => {
    ctx.clearRect(0, 0, 1, 1);
    ctx.fillStyle = 'rgba(0, 0, 0, 0)';
    ctx.fillStyle = color;
    ctx.fillRect(0, 0, 1, 1);
    const d = ctx.getImageData(0, 0, 1, 1).data;
    return [d[0], d[1], d[2], d[3] / 255];
  };
  const over = (top, bottom) => {
    const a = top[3];
    return [0, 1, 2].map(i => top[i] * a + bottom[i] * (1 - a)).concat([1]);
  };
  const luminance = (c) => {
    const lin = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
  };
  const ratio = (a, b) => {
    const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  };
  const parentOf = (node) => node.parentElement || (node.getRootNode() && node.getRootNode().host) || null;
  const backdrop = (element, ownBackground) => {
    const layers = ownBackground ? [rgba(ownBackground)] : [];
    let opacity = 1;
    let image = null;
    for (let node = element; node; node = parentOf(node)) {
      const style = getComputedStyle(node);
      opacity *= parseFloat(style.opacity);
      if (style.backgroundImage !== 'none' && !image) image = node.tagName + ':' + style.backgroundImage;
      const layer = rgba(style.backgroundColor);
      if (layer[3] > 0) layers.push(layer);
      if (layer[3] >= 1) break;
    }
    let color = [255, 255, 255, 1];  // the canvas under an unpainted page
    for (let i = layers.length - 1; i >= 0; i--) color = over(layers[i], color);
    return {color, opacity, image};
  };
  const describe = (element, pseudo, text) => {
    const style = getComputedStyle(element, pseudo);
    const pseudoBackground = pseudo ? style.backgroundColor : null;
    const back = backdrop(element, pseudoBackground);
    const ink = rgba(style.color);
    ink[3] *= back.opacity;
    const shown = over(ink, back.color);
    const size = parseFloat(style.fontSize);
    const weight = parseInt(style.fontWeight, 10);
    const large = size >= 24 || (size >= 18.66 && weight >= 700);
    const path = [];
    for (let node = element; node && path.length < 4; node = parentOf(node)) {
      path.unshift(node.tagName.toLowerCase() + (node.className && typeof node.className === 'string'
        ? '.' + node.className.trim().split(/\\s+/).join('.') : ''));
    }
    return {
      text: text.trim().slice(0, 60),
      where: path.join(' > ') + (pseudo || ''),
      tag: element.tagName,
      classes: typeof element.className === 'string' ? element.className : '',
      color: style.color,
      background: 'rgb(' + back.color.slice(0, 3).map(Math.round).join(', ') + ')',
      backgroundImage: back.image,
      ratio: Math.round(ratio(shown, back.color) * 100) / 100,
      required: large ? 3 : 4.5,
      fontSize: size,
    };
  };
  const results = [];
  const visit = (element) => {
    const visible = element.checkVisibility({opacityProperty: true, visibilityProperty: true});
    if (!visible) return;
    const box = element.getBoundingClientRect();
    if (box.width > 0 && box.height > 0) {
      const own = Array.from(element.childNodes)
        .filter(n => n.nodeType === Node.TEXT_NODE).map(n => n.data).join('');
      if (own.trim()) results.push(describe(element, null, own));
      for (const pseudo of ['::before', '::after']) {
        const content = getComputedStyle(element, pseudo).content;
        if (content && content !== 'none' && content !== 'normal' && /^".*\\S.*"$/s.test(content)) {
          results.push(describe(element, pseudo, content.slice(1, -1)));
        }
      }
    }
    const children = element.shadowRoot ? element.shadowRoot.children : element.children;
    for (const child of children) visit(child);
  };
  visit(root);
  return results;
}
"""


def contrast_failures(measured: list[dict[str, Any]]) -> list[str]:
    return [
        f"{item['ratio']}:1 < {item['required']}:1  {item['where']}  {item['text']!r}  "
        f"color {item['color']} on {item['background']}"
        + (f" (background image {item['backgroundImage']})" if item["backgroundImage"] else "")
        for item in measured
        if item["ratio"] < item["required"]
    ]


def luminance_of(css_rgb: str) -> float:
    channels = [int(part) / 255 for part in css_rgb.strip("rgba()").split(",")[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The chat and the widget over one document, answering through a local OpenAI-protocol
    server whose answers carry a sentence no source supports (so the marks and notes show)."""
    require_chromium()
    with chat_through_llm(tmp_path_factory, "unsupported") as app:
        yield app.url


@pytest.fixture(scope="module")
def browser(server: str) -> Iterator[Any]:
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=require_chromium(), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def new_page(browser: Any, theme: str, viewport: str) -> Any:
    context = browser.new_context(
        viewport=VIEWPORTS[viewport], color_scheme=theme, is_mobile=viewport == "phone"
    )
    return context.new_page()


# --- the Gradio chat --------------------------------------------------------------------


def ask_chat(page: Any, question: str) -> Any:
    count = page.locator(".bot-row").count()
    page.fill("#question textarea", question)
    page.keyboard.press("Enter")
    page.wait_for_function("n => document.querySelectorAll('.bot-row').length > n", arg=count, timeout=60_000)
    # Send comes back (in place of Stop) once the answer is complete.
    page.locator("#question button.submit-button").wait_for(timeout=60_000)
    page.wait_for_function("() => !document.querySelector('.generating, .pending')", timeout=60_000)
    return page.locator(".bot-row").nth(count)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_chat_answer_sources_and_refusal_are_readable(browser: Any, server: str, theme: str) -> None:
    failures: dict[str, list[str]] = {}
    for viewport in VIEWPORTS:
        page = new_page(browser, theme, viewport)
        page.goto(server + "/")
        page.wait_for_selector("#question textarea")
        # Gradio follows the OS setting by putting `dark` on <body>.
        assert page.evaluate("document.body.classList.contains('dark')") is (theme == "dark")

        answer = ask_chat(page, ANSWERABLE)
        answer.locator("details.mia-sources").evaluate("details => { details.open = true; }")
        assert answer.locator(".mia-source mark").count() >= 1
        assert answer.locator(".mia-unsupported").count() == 1
        assert answer.locator(".mia-note").count() >= 1
        refusal = ask_chat(page, OFF_TOPIC)
        assert refusal.locator(".mia-refusal").count() == 1

        measured: list[dict[str, Any]] = []
        for row in (answer, refusal):
            measured += row.evaluate(MEASURE_CONTRAST)
        measured += page.locator(".mia-header").evaluate(MEASURE_CONTRAST)
        checked = {item["tag"] for item in measured} | {
            cls for item in measured for cls in item["classes"].split()
        }
        # The components the issue names were really measured, not skipped as invisible.
        assert {
            "MARK",
            "BLOCKQUOTE",
            "mia-meta",
            "mia-refusal-label",
            "mia-note",
            "mia-cite",  # the [n] buttons
            "mia-copy",
        } <= checked, checked
        assert any(item["where"].endswith("::after") for item in measured)  # "(unsupported)"

        answer.scroll_into_view_if_needed()
        answer.locator("details.mia-sources").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / f"contrast-chat-{theme}-{viewport}-answer.png"))
        refusal.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / f"contrast-chat-{theme}-{viewport}-refusal.png"))
        failures[viewport] = contrast_failures(measured)
        page.context.close()
    assert failures == {"desktop": [], "phone": []}, "\n".join(
        f"{viewport}: {line}" for viewport, lines in failures.items() for line in lines
    )


# --- the widget -------------------------------------------------------------------------


def ask_widget(page: Any, question: str) -> Any:
    done = f"{WIDGET} .miw-msg[data-role=assistant][data-state=done]"
    before = page.locator(done).count()
    textarea = page.locator(f"{WIDGET} textarea")
    textarea.fill(question)
    textarea.press("Enter")
    page.wait_for_function(
        f"n => document.querySelector('{WIDGET}').shadowRoot"
        ".querySelectorAll('.miw-msg[data-role=assistant][data-state=done]').length > n",
        arg=before,
        timeout=60_000,
    )
    return page.locator(done).nth(before)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_widget_answer_sources_and_refusal_are_readable(browser: Any, server: str, theme: str) -> None:
    failures: dict[str, list[str]] = {}
    for viewport in VIEWPORTS:
        page = new_page(browser, theme, viewport)
        page.goto(server + "/widget-demo")
        page.wait_for_function("() => window.MarketIntelligenceWidget?.baseUrl")
        page.locator(f"{WIDGET} .miw-launcher").click()
        panel = page.locator(f"{WIDGET} .miw-panel")
        panel.evaluate("el => Promise.all(el.getAnimations({subtree: true}).map(a => a.finished))")

        answer = ask_widget(page, ANSWERABLE)
        assert answer.locator(".miw-quote mark").count() >= 1
        assert answer.locator(".miw-unsupported").count() == 1
        refusal = ask_widget(page, OFF_TOPIC)
        assert refusal.get_attribute("data-refused") == "true"
        page.wait_for_timeout(300)  # the messages' fade-in

        # The widget follows the OS setting: dark surfaces in dark mode, light ones in light.
        surfaces = page.locator(WIDGET).evaluate(
            """host => ['.miw-panel', '.miw-log', '.miw-msg[data-state=done] .miw-bubble', '.miw-input']
                 .map(s => getComputedStyle(host.shadowRoot.querySelector(s)).backgroundColor)"""
        )
        for surface in surfaces:
            assert (luminance_of(surface) < 0.05) is (theme == "dark"), (theme, surfaces)

        measured = panel.evaluate(MEASURE_CONTRAST)
        checked = {item["tag"] for item in measured} | {
            cls for item in measured for cls in item["classes"].split()
        }
        assert {
            "MARK",
            "miw-quote-preview",
            "miw-source-meta",
            "miw-refusal-label",
            "miw-topic",
            "miw-note",
            "miw-unsupported",
            "miw-footnote",
            "miw-cite",
            "miw-sources-toggle",
        } <= checked, checked

        answer.scroll_into_view_if_needed()
        answer.locator(".miw-quote").first.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / f"contrast-widget-{theme}-{viewport}-answer.png"))
        refusal.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / f"contrast-widget-{theme}-{viewport}-refusal.png"))
        failures[viewport] = contrast_failures(measured)
        page.context.close()
    assert failures == {"desktop": [], "phone": []}, "\n".join(
        f"{viewport}: {line}" for viewport, lines in failures.items() for line in lines
    )
