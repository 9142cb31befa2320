/*!
 * Market Intelligence chat widget: one <script> tag, no dependencies.
 *
 *   <script src="https://HOST/widget.js" data-key="KEY" data-title="Market Intelligence"
 *           data-greeting="Ask me about ..." data-position="right" data-accent="#0b5fff"
 *           async></script>
 *
 * Everything lives in an open shadow root attached to a host element on document.body,
 * styled by widget.css loaded from the same base URL as this script. Answers stream from
 * POST BASE/api/ask as Server-Sent Events. Text from the server or the user is only ever
 * inserted with textContent / text nodes, never parsed as HTML.
 */
(function () {
  "use strict";

  // Captured synchronously: document.currentScript is only set during this first run.
  var currentScript = document.currentScript;

  if (window.MarketIntelligenceWidget && window.MarketIntelligenceWidget.__loaded) {
    return; // embedded twice: the first copy wins
  }

  var SVG_NS = "http://www.w3.org/2000/svg";
  var MAX_QUESTION_CHARS = 2000;
  var MAX_STORED_MESSAGES = 60;
  var MAX_HISTORY_MESSAGES = 20;
  var MAX_BODY_CHARS = 60000;
  var QUOTE_PREVIEW_CHARS = 300;
  var DEFAULT_ACCENT = "#0b5fff";
  var DEFAULT_TITLE = "Market Intelligence";
  var DEFAULT_GREETING =
    "Hi! Ask me about Malaysia's critical minerals and rare earths, U.S.\u2013Malaysia trade, " +
    "tariffs and export finance. Every answer cites the documents it comes from.";

  // ---------------------------------------------------------------------------------
  // Configuration from the script tag

  function findScript() {
    if (currentScript && currentScript.src) return currentScript;
    var scripts = document.getElementsByTagName("script");
    for (var i = scripts.length - 1; i >= 0; i--) {
      var src = scripts[i].src || "";
      if (/\/widget\.js(?:[?#].*)?$/.test(src)) return scripts[i];
    }
    return null;
  }

  function attr(el, name) {
    if (!el) return "";
    var value = el.getAttribute("data-" + name);
    return value == null ? "" : String(value).trim();
  }

  function baseUrlOf(script) {
    try {
      if (script && script.src) return new URL("./", script.src).href;
    } catch (e) {
      /* fall through */
    }
    return new URL("./", window.location.href).href;
  }

  function validAccent(value) {
    if (!value) return null;
    var ok =
      /^#(?:[0-9a-f]{3}|[0-9a-f]{4}|[0-9a-f]{6}|[0-9a-f]{8})$/i.test(value) ||
      /^rgba?\(\s*[0-9.%\s,/]+\)$/i.test(value) ||
      /^hsla?\(\s*[0-9.%\s,/a-z]+\)$/i.test(value);
    if (!ok) return null;
    if (window.CSS && typeof window.CSS.supports === "function" && !CSS.supports("color", value)) {
      return null;
    }
    return value;
  }

  function parseRgb(color) {
    var m, h;
    if ((m = /^#([0-9a-f]{3,8})$/i.exec(color))) {
      h = m[1];
      if (h.length === 3 || h.length === 4) {
        return [parseInt(h[0] + h[0], 16), parseInt(h[1] + h[1], 16), parseInt(h[2] + h[2], 16)];
      }
      if (h.length === 6 || h.length === 8) {
        return [parseInt(h.slice(0, 2), 16), parseInt(h.slice(2, 4), 16), parseInt(h.slice(4, 6), 16)];
      }
      return null;
    }
    if ((m = /^rgba?\(\s*([0-9.]+)[\s,]+([0-9.]+)[\s,]+([0-9.]+)\s*[,/)]/i.exec(color))) {
      return [Math.min(255, +m[1]), Math.min(255, +m[2]), Math.min(255, +m[3])];
    }
    return null;
  }

  function luminance(rgb) {
    function lin(c) {
      c = c / 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    }
    return 0.2126 * lin(rgb[0]) + 0.7152 * lin(rgb[1]) + 0.0722 * lin(rgb[2]);
  }

  function contrast(a, b) {
    var la = luminance(a);
    var lb = luminance(b);
    return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
  }

  /** `weight` of colour a, the rest of b. */
  function mix(a, b, weight) {
    return [0, 1, 2].map(function (i) {
      return a[i] * weight + b[i] * (1 - weight);
    });
  }

  // The assistant bubble in widget.css's light and dark palettes (--miw-bubble).
  var LIGHT_BUBBLE = [255, 255, 255];
  var DARK_BUBBLE = [29, 33, 39];

  /** #fff or near-black, whichever reads better on `color`. */
  function textOn(color) {
    var rgb = parseRgb(color);
    if (!rgb) return "#ffffff";
    var l = luminance(rgb);
    var onWhite = 1.05 / (l + 0.05);
    var onDark = (l + 0.05) / 0.0566; // #111 has a luminance of about 0.0056
    return onWhite >= onDark ? "#ffffff" : "#111111";
  }

  /**
   * `color` as text (links, source numbers, topics): darkened for the light palette or
   * lightened for the dark one until it reads at 4.5:1 on the bubble and on the accent tint
   * the source numbers sit on (12% / 22% accent, as in widget.css). Hex or rgb; else as is.
   */
  function inkOf(color, dark) {
    var rgb = parseRgb(color);
    if (!rgb) return color;
    var bubble = dark ? DARK_BUBBLE : LIGHT_BUBBLE;
    var toward = dark ? [255, 255, 255] : [0, 0, 0];
    var tint = mix(rgb, bubble, dark ? 0.22 : 0.12);
    for (var i = 0; i < 24 && (contrast(rgb, bubble) < 4.5 || contrast(rgb, tint) < 4.5); i++) {
      rgb = mix(rgb, toward, 0.85);
    }
    return "rgb(" + rgb.map(Math.round).join(", ") + ")";
  }

  var script = findScript();
  var BASE = baseUrlOf(script);
  var config = {
    key: attr(script, "key"),
    title: attr(script, "title") || DEFAULT_TITLE,
    greeting: attr(script, "greeting") || DEFAULT_GREETING,
    position: attr(script, "position").toLowerCase() === "left" ? "left" : "right",
    accent: validAccent(attr(script, "accent")) || DEFAULT_ACCENT,
  };
  // A template placeholder the server never filled in means "no key".
  if (config.key === "__WIDGET_KEY__") config.key = "";

  // ---------------------------------------------------------------------------------
  // Small DOM helpers (text only, never HTML)

  function el(tag, props, children) {
    var node = document.createElement(tag);
    if (props) {
      for (var name in props) {
        if (!Object.prototype.hasOwnProperty.call(props, name)) continue;
        var value = props[name];
        if (value == null || value === false) continue;
        if (name === "text") node.textContent = String(value);
        else if (name === "className") node.className = value;
        else node.setAttribute(name, value === true ? "" : String(value));
      }
    }
    if (children) {
      for (var i = 0; i < children.length; i++) {
        if (children[i] != null) node.appendChild(children[i]);
      }
    }
    return node;
  }

  /** A static inline icon from path data we own (never from the server). */
  function icon(paths, size) {
    var svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", String(size || 24));
    svg.setAttribute("height", String(size || 24));
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    for (var i = 0; i < paths.length; i++) {
      var p = document.createElementNS(SVG_NS, "path");
      p.setAttribute("d", paths[i]);
      svg.appendChild(p);
    }
    return svg;
  }

  var ICONS = {
    chat: [
      "M4 5.5A2.5 2.5 0 0 1 6.5 3h11A2.5 2.5 0 0 1 20 5.5v8a2.5 2.5 0 0 1-2.5 2.5H10l-4.2 3.6A.5.5 0 0 1 5 19.2V16h0a2.5 2.5 0 0 1-1-2V5.5Z",
      "M8 8.5h8M8 11.5h5",
    ],
    close: ["M6 6l12 12M18 6L6 18"],
    send: ["M4.5 12h13", "M12.5 6.5 18 12l-5.5 5.5"],
    newChat: [
      "M12 20h-5.5A2.5 2.5 0 0 1 4 17.5v-11A2.5 2.5 0 0 1 6.5 4H12",
      "M16.9 3.6a1.9 1.9 0 0 1 2.7 2.7l-7.1 7.1-3.5.8.8-3.5 7.1-7.1Z",
    ],
    stop: ["M8 7h8a1 1 0 0 1 1 1v8a1 1 0 0 1-1 1H8a1 1 0 0 1-1-1V8a1 1 0 0 1 1-1Z"],
    copy: [
      "M9 9.5A1.5 1.5 0 0 1 10.5 8h8A1.5 1.5 0 0 1 20 9.5v9a1.5 1.5 0 0 1-1.5 1.5h-8A1.5 1.5 0 0 1 9 18.5v-9Z",
      "M15 8V5.5A1.5 1.5 0 0 0 13.5 4h-8A1.5 1.5 0 0 0 4 5.5v9A1.5 1.5 0 0 0 5.5 16H9",
    ],
    up: [
      "M7 11v9H4.5A1.5 1.5 0 0 1 3 18.5v-6A1.5 1.5 0 0 1 4.5 11H7Z",
      "M7 11l4-7a2 2 0 0 1 2.8 2.2L13 10h5.4a2 2 0 0 1 2 2.4l-1.3 6A2 2 0 0 1 17.1 20H7",
    ],
    down: [
      "M17 13V4h2.5A1.5 1.5 0 0 1 21 5.5v6a1.5 1.5 0 0 1-1.5 1.5H17Z",
      "M17 13l-4 7a2 2 0 0 1-2.8-2.2L11 14H5.6a2 2 0 0 1-2-2.4l1.3-6A2 2 0 0 1 6.9 4H17",
    ],
    chevron: ["M9 6l6 6-6 6"],
  };

  function isHttpUrl(value) {
    if (typeof value !== "string" || !value) return false;
    try {
      var url = new URL(value);
      return url.protocol === "http:" || url.protocol === "https:";
    } catch (e) {
      return false;
    }
  }

  function str(value) {
    return value == null ? "" : String(value);
  }

  // ---------------------------------------------------------------------------------
  // Conversation storage (per key + base URL, for the page session)

  function hash(text) {
    var h = 5381;
    for (var i = 0; i < text.length; i++) h = ((h << 5) + h + text.charCodeAt(i)) | 0;
    return (h >>> 0).toString(36);
  }

  var STORAGE_KEY = "market-intelligence-widget:v1:" + BASE + ":" + hash(config.key);

  function loadMessages() {
    try {
      var raw = window.sessionStorage.getItem(STORAGE_KEY);
      if (!raw) return [];
      var data = JSON.parse(raw);
      if (!Array.isArray(data)) return [];
      return data.filter(function (m) {
        return m && (m.role === "user" || m.role === "assistant") && typeof m.content === "string";
      });
    } catch (e) {
      return [];
    }
  }

  function saveMessages() {
    var toStore = messages.slice(-MAX_STORED_MESSAGES);
    try {
      window.sessionStorage.setItem(STORAGE_KEY, JSON.stringify(toStore));
    } catch (e) {
      // Quota or storage disabled: keep the text, drop the (large) sources, then give up.
      try {
        var slim = toStore.map(function (m) {
          return {
            role: m.role,
            content: m.content,
            refused: m.refused,
            error: m.error,
            stopped: m.stopped,
            rating: m.rating,
          };
        });
        window.sessionStorage.setItem(STORAGE_KEY, JSON.stringify(slim));
      } catch (e2) {
        /* the conversation simply will not survive a reload */
      }
    }
  }

  function clearMessages() {
    try {
      window.sessionStorage.removeItem(STORAGE_KEY);
    } catch (e) {
      /* ignore */
    }
  }

  /**
   * Completed turns before messages[end] (default: all), as the API expects them, the
   * latest that fit in `budget` characters; failed turns are left out.
   */
  function historyForRequest(end, budget) {
    var turns = [];
    var last = end == null ? messages.length : end;
    for (var i = 0; i < last; i++) {
      var m = messages[i];
      var next = i + 1 < last ? messages[i + 1] : null;
      if (m.role === "user") {
        if (next && next.role === "assistant" && !next.error && next.content) {
          turns.push({ role: "user", content: m.content });
          turns.push({ role: "assistant", content: next.content });
          i++;
        }
      }
    }
    turns = turns.slice(-MAX_HISTORY_MESSAGES);
    var limit = budget == null ? MAX_BODY_CHARS - 4000 : budget;
    while (turns.length && JSON.stringify(turns).length > limit) {
      turns = turns.slice(2);
    }
    return turns;
  }

  // ---------------------------------------------------------------------------------
  // State

  var messages = loadMessages(); // [{role, content, refused?, error?, citations?, closest_topics?}]
  var isOpen = false;
  var busy = false;
  var controller = null;
  var stopCurrent = null; // ends the answer being streamed, keeping what was shown
  var pendingResolvers = [];
  var ui = null;
  var nextId = 0;

  /** A fresh id for aria-controls inside the shadow root. */
  function uid(prefix) {
    nextId += 1;
    return prefix + nextId;
  }

  // ---------------------------------------------------------------------------------
  // Building the UI

  function build() {
    var host = document.createElement("market-intelligence-widget");
    host.setAttribute("data-position", config.position);
    var shadow = host.attachShadow({ mode: "open" });

    var stylesheet = el("link", { rel: "stylesheet", href: BASE + "widget.css" });
    shadow.appendChild(stylesheet);

    var root = el("div", { className: "miw", "data-position": config.position, "data-open": "false" });
    root.style.setProperty("--miw-accent", config.accent);
    root.style.setProperty("--miw-on-accent", textOn(config.accent));
    root.style.setProperty("--miw-ink-light", inkOf(config.accent, false));
    root.style.setProperty("--miw-ink-dark", inkOf(config.accent, true));
    // Hidden until widget.css arrives, so the page never shows an unstyled flash.
    root.style.setProperty("visibility", "hidden");
    var reveal = function () {
      root.style.removeProperty("visibility");
    };
    stylesheet.addEventListener("load", reveal);
    stylesheet.addEventListener("error", reveal);
    setTimeout(reveal, 4000);

    var bubble = el("button", {
      type: "button",
      className: "miw-launcher",
      "aria-label": "Open chat: " + config.title,
      "aria-expanded": "false",
      "aria-controls": "miw-panel",
      title: config.title,
    });
    var chatIcon = icon(ICONS.chat, 28);
    chatIcon.setAttribute("class", "miw-launcher-icon miw-launcher-chat");
    var closeIcon = icon(ICONS.close, 26);
    closeIcon.setAttribute("class", "miw-launcher-icon miw-launcher-close");
    bubble.appendChild(chatIcon);
    bubble.appendChild(closeIcon);

    var titleId = "miw-title";
    var closeBtn = el("button", {
      type: "button",
      className: "miw-icon-btn miw-close",
      "aria-label": "Close chat",
      title: "Close",
    });
    closeBtn.appendChild(icon(ICONS.close, 20));

    var newBtn = el("button", {
      type: "button",
      className: "miw-icon-btn miw-new",
      "aria-label": "New chat",
      title: "New chat",
    });
    newBtn.appendChild(icon(ICONS.newChat, 20));

    var header = el("div", { className: "miw-header" }, [
      el("div", { className: "miw-avatar", "aria-hidden": "true" }, [icon(ICONS.chat, 20)]),
      el("div", { className: "miw-heading" }, [
        el("h2", { className: "miw-title", id: titleId, text: config.title }),
        el("p", { className: "miw-subtitle", text: "Answers only from cited documents" }),
      ]),
      newBtn,
      closeBtn,
    ]);

    var log = el("div", {
      className: "miw-log",
      role: "log",
      "aria-live": "polite",
      "aria-relevant": "additions text",
      "aria-label": "Conversation",
      tabindex: "0",
    });

    var input = el("textarea", {
      id: "miw-input",
      className: "miw-input",
      rows: "1",
      maxlength: String(MAX_QUESTION_CHARS),
      placeholder: "Ask about the documents\u2026",
      "aria-label": "Your question",
      autocomplete: "off",
      enterkeyhint: "send",
    });
    var sendBtn = el("button", {
      type: "submit",
      className: "miw-send",
      "aria-label": "Send question",
      title: "Send (Enter)",
    });
    sendBtn.appendChild(icon(ICONS.send, 20));
    // Takes the send button's place while an answer streams.
    var stopBtn = el("button", {
      type: "button",
      className: "miw-stop",
      "aria-label": "Stop answering",
      title: "Stop answering",
      hidden: true,
    });
    stopBtn.appendChild(icon(ICONS.stop, 20));

    var form = el("form", { className: "miw-composer", novalidate: true }, [input, sendBtn, stopBtn]);
    var hint = el("p", {
      className: "miw-footnote",
      text: "Enter to send \u00b7 Shift+Enter for a new line",
    });

    var panel = el(
      "div",
      {
        id: "miw-panel",
        className: "miw-panel",
        role: "dialog",
        "aria-labelledby": titleId,
        tabindex: "-1",
        hidden: true,
      },
      [header, log, form, hint]
    );

    root.appendChild(panel);
    root.appendChild(bubble);
    shadow.appendChild(root);

    ui = {
      host: host,
      shadow: shadow,
      root: root,
      bubble: bubble,
      panel: panel,
      log: log,
      input: input,
      send: sendBtn,
      stop: stopBtn,
      form: form,
      newBtn: newBtn,
      closeBtn: closeBtn,
    };

    bubble.addEventListener("click", function () {
      if (isOpen) close();
      else open();
    });
    closeBtn.addEventListener("click", function () {
      close();
    });
    newBtn.addEventListener("click", function () {
      newChat();
    });
    stopBtn.addEventListener("click", function () {
      if (stopCurrent) stopCurrent();
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      submitInput();
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
        event.preventDefault();
        submitInput();
      }
    });
    input.addEventListener("input", autoGrow);
    root.addEventListener("keydown", function (event) {
      if ((event.key === "Escape" || event.key === "Esc") && isOpen) {
        event.preventDefault();
        event.stopPropagation();
        close();
      }
    });

    renderAll();
    document.body.appendChild(host);
  }

  function autoGrow() {
    var input = ui.input;
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, 140) + "px";
  }

  // ---------------------------------------------------------------------------------
  // Rendering messages

  function renderAll() {
    var log = ui.log;
    while (log.firstChild) log.removeChild(log.firstChild);
    log.appendChild(renderGreeting());
    for (var i = 0; i < messages.length; i++) {
      var m = messages[i];
      if (m.role === "user") {
        log.appendChild(renderUser(m.content));
      } else {
        var view = createAssistantView();
        log.appendChild(view.node);
        finishView(view, m);
      }
    }
    scrollToBottom(true);
  }

  function renderGreeting() {
    return el("div", { className: "miw-msg miw-msg-assistant miw-greeting" }, [
      el("div", { className: "miw-bubble" }, [el("p", { className: "miw-text", text: config.greeting })]),
    ]);
  }

  function renderUser(text) {
    return el("div", { className: "miw-msg miw-msg-user", "data-role": "user" }, [
      el("div", { className: "miw-bubble" }, [el("p", { className: "miw-text", text: text })]),
    ]);
  }

  function createAssistantView() {
    var textNode = document.createTextNode("");
    var text = el("p", { className: "miw-text" });
    text.appendChild(textNode);
    var typing = el("span", { className: "miw-typing", "aria-label": "Answering" }, [
      el("span"),
      el("span"),
      el("span"),
    ]);
    var bubble = el("div", { className: "miw-bubble" }, [typing, text]);
    var node = el(
      "div",
      { className: "miw-msg miw-msg-assistant", "data-role": "assistant", "data-state": "streaming" },
      [bubble]
    );
    return { node: node, bubble: bubble, text: text, textNode: textNode, typing: typing };
  }

  function appendToken(view, chunk) {
    if (!chunk) return;
    if (view.typing.parentNode) view.typing.parentNode.removeChild(view.typing);
    view.textNode.appendData(chunk);
    scrollToBottom(false);
  }

  /** Final look of an assistant message (also used when restoring from storage). */
  function finishView(view, m) {
    if (view.typing.parentNode) view.typing.parentNode.removeChild(view.typing);
    var node = view.node;
    if (m.error) {
      node.setAttribute("data-state", "error");
      node.classList.add("miw-error");
      view.textNode.data = m.content || "Something went wrong.";
      return;
    }
    node.setAttribute("data-state", "done");
    var text = typeof m.content === "string" ? m.content : "";
    if (m.refused && !text) text = "I could not find this in the documents.";
    var citations = (Array.isArray(m.citations) ? m.citations : []).filter(function (c) {
      return c && typeof c === "object";
    });
    var sources = citations.length ? renderSources(citations, !!m.refused) : null;
    renderAnswerText(view, text, m.unsupported, function (n) {
      return sources && sources.has(n) ? citeButton(sources, n) : null;
    });
    if (m.stopped) {
      node.setAttribute("data-stopped", "true");
      view.bubble.appendChild(el("p", { className: "miw-stopped", text: "Stopped" }));
    }
    (Array.isArray(m.notes) ? m.notes : []).forEach(function (note) {
      if (typeof note === "string" && note) {
        view.bubble.appendChild(el("p", { className: "miw-note", text: note }));
      }
    });
    if (m.refused) {
      node.classList.add("miw-refused");
      node.setAttribute("data-refused", "true");
      view.bubble.insertBefore(
        el("p", { className: "miw-refusal-label", text: "Not in the documents" }),
        view.bubble.firstChild
      );
      var topics = (m.closest_topics || []).filter(function (t) {
        return typeof t === "string" && t.trim();
      });
      if (topics.length) view.bubble.appendChild(renderTopics(topics));
    }
    if (sources) view.bubble.appendChild(sources.node);
    if (text) node.appendChild(renderActions(m, citations));
  }

  /**
   * The answer text: sentences no cited source supports get a visible mark, and each [n]
   * naming a source becomes a button (from `cite(n)`, null for other numbers). Text only.
   */
  function renderAnswerText(view, text, unsupported, cite) {
    var fragment = document.createDocumentFragment();
    var cursor = 0;
    (Array.isArray(unsupported) ? unsupported : []).forEach(function (sentence) {
      if (typeof sentence !== "string" || !sentence) return;
      var start = text.indexOf(sentence, cursor);
      if (start < 0) return;
      appendCited(fragment, text.slice(cursor, start), cite);
      var span = el("span", { className: "miw-unsupported", title: "No cited source supports this sentence" });
      appendCited(span, sentence, cite);
      fragment.appendChild(span);
      fragment.appendChild(el("span", { className: "miw-unsupported-label", text: " (unsupported)" }));
      cursor = start + sentence.length;
    });
    appendCited(fragment, text.slice(cursor), cite);
    view.text.textContent = "";
    view.text.appendChild(fragment);
  }

  /** `text` into `parent` as text nodes, with each [n] that `cite(n)` knows as its button. */
  function appendCited(parent, text, cite) {
    var marker = /\[(\d{1,3})\]/g;
    var pos = 0;
    var match;
    while ((match = marker.exec(text))) {
      var button = cite(parseInt(match[1], 10));
      if (!button) continue;
      // The marker stays on the line of the word before it (the sentence it closes).
      var before = text.slice(pos, match.index);
      var lastWord = /\S+ ?$/.exec(before);
      var cut = lastWord ? lastWord.index : before.length;
      if (cut > 0) parent.appendChild(document.createTextNode(before.slice(0, cut)));
      var lastWordText = document.createTextNode(before.slice(cut));
      parent.appendChild(el("span", { className: "miw-cite-wrap" }, [lastWordText, button]));
      pos = match.index + match[0].length;
    }
    if (pos < text.length) parent.appendChild(document.createTextNode(text.slice(pos)));
  }

  /** An inline [n]: opens the sources, scrolls to source n and gives it the focus. */
  function citeButton(sources, n) {
    var button = el("button", {
      type: "button",
      className: "miw-cite",
      "aria-label": "Source " + n + ": " + sources.title(n),
      title: sources.title(n),
      text: "[" + n + "]",
    });
    button.addEventListener("click", function () {
      sources.show(n);
    });
    return button;
  }
  // ---------------------------------------------------------------------------------
  // Copy and thumbs under an answer

  /** The answer as plain text with its numbered sources (what "Copy" puts on the clipboard). */
  function plainAnswer(m, citations) {
    var text = str(m.content).trim();
    if (!citations.length) return text;
    var lines = [text, "", m.refused ? "Closest passages:" : "Sources:"];
    citations.forEach(function (c, index) {
      var meta = citationMeta(c);
      lines.push("[" + citationNumber(c, index) + "] " + citationTitle(c) + (meta ? " \u2014 " + meta : ""));
      var source = str(c.source).trim();
      if (source && source !== citationTitle(c)) lines.push("    " + source);
    });
    return lines.join("\n");
  }

  /** Clipboard API where the page is a secure context, else the older copy command. */
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = el("textarea", { className: "miw-copy-buffer", readonly: true, "aria-hidden": "true" });
      area.value = text;
      ui.root.appendChild(area);
      area.select();
      var copied = false;
      try {
        copied = document.execCommand("copy");
      } catch (e) {
        copied = false;
      }
      ui.root.removeChild(area);
      if (copied) resolve();
      else reject(new Error("copy refused"));
    });
  }

  function actionButton(className, label, iconName) {
    var button = el("button", {
      type: "button",
      className: "miw-action " + className,
      "aria-label": label,
      title: label,
    });
    button.appendChild(icon(ICONS[iconName], 16));
    return button;
  }

  function renderActions(m, citations) {
    var copy = actionButton("miw-copy", "Copy answer", "copy");
    var up = actionButton("miw-thumb", "Good answer", "up");
    var down = actionButton("miw-thumb", "Bad answer", "down");
    up.setAttribute("data-rating", "up");
    down.setAttribute("data-rating", "down");
    var status = el("span", { className: "miw-action-status", role: "status" });
    var statusTimer = null;
    function say(text, clearAfter) {
      clearTimeout(statusTimer);
      status.textContent = text;
      if (clearAfter) {
        statusTimer = setTimeout(function () {
          status.textContent = "";
        }, clearAfter);
      }
    }
    copy.addEventListener("click", function () {
      copyText(plainAnswer(m, citations)).then(
        function () {
          say("Copied", 2500);
        },
        function () {
          say("Could not copy: select the text instead", 4000);
        }
      );
    });
    var thumbs = [up, down];
    function showRating(rating) {
      thumbs.forEach(function (button) {
        var chosen = button.getAttribute("data-rating") === rating;
        button.setAttribute("aria-pressed", chosen ? "true" : "false");
        button.disabled = !!rating; // one rating per answer, stored once
      });
    }
    showRating(m.rating === "up" || m.rating === "down" ? m.rating : null);
    thumbs.forEach(function (button) {
      button.addEventListener("click", function () {
        var rating = button.getAttribute("data-rating");
        thumbs.forEach(function (b) {
          b.disabled = true;
        });
        say("Sending\u2026");
        sendFeedback(m, rating, citations).then(function (error) {
          if (error) {
            showRating(null);
            say(error);
            return;
          }
          m.rating = rating;
          saveMessages();
          showRating(rating);
          say("Thanks for the feedback");
        });
      });
    });
    return el("div", { className: "miw-actions" }, [copy, up, down, status]);
  }

  /** The citation fields the feedback keeps, without quotes when the body would be too big. */
  function feedbackCitations(citations, withQuotes) {
    return citations.map(function (c, index) {
      var kept = { n: citationNumber(c, index), title: str(c.title), source: str(c.source) };
      ["publisher", "date", "page", "chunk_id", "path"].forEach(function (name) {
        if (c[name] != null) kept[name] = c[name];
      });
      if (withQuotes) kept.quote = str(c.quote);
      return kept;
    });
  }

  /**
   * POST a thumb to /api/feedback with the question, the answer and the conversation before
   * it (as the chat stores them); resolves to an error message, or "" once stored.
   */
  function sendFeedback(m, rating, citations) {
    var index = messages.indexOf(m);
    var asked = index > 0 ? messages[index - 1] : null;
    if (!asked || asked.role !== "user") return Promise.resolve("This answer can no longer be rated.");
    var payload = {
      rating: rating,
      question: asked.content,
      answer: str(m.content),
      history: [],
      citations: feedbackCitations(citations, true),
      refused: !!m.refused,
    };
    if (JSON.stringify(payload).length > MAX_BODY_CHARS - 4000) {
      payload.citations = feedbackCitations(citations, false);
    }
    payload.history = historyForRequest(index - 1, MAX_BODY_CHARS - JSON.stringify(payload).length);
    return post("api/feedback", JSON.stringify(payload), "application/json", null).then(
      function (response) {
        if (response.ok) return "";
        return response
          .json()
          .catch(function () {
            return null;
          })
          .then(function (data) {
            return httpErrorMessage(response, data);
          });
      },
      function () {
        return "Could not send the feedback. Check your connection and try again.";
      }
    );
  }

  function renderTopics(topics) {
    var list = el("ul", { className: "miw-topics-list" });
    topics.slice(0, 8).forEach(function (topic) {
      var item = el("li");
      var btn = el("button", {
        type: "button",
        className: "miw-topic",
        text: topic,
        title: "Ask about " + topic,
      });
      btn.addEventListener("click", function () {
        ask(topic);
      });
      item.appendChild(btn);
      list.appendChild(item);
    });
    return el("div", { className: "miw-topics" }, [
      el("p", { className: "miw-topics-title", text: "Closest topics in the documents" }),
      list,
    ]);
  }

  /** A document's date as shown: empty for undated ones ("" or "unknown" from the loaders). */
  function shownDate(value) {
    var date = str(value).trim();
    return /^(unknown|n\/?a|none|null|undated|n\.d\.)$/i.test(date) ? "" : date;
  }

  function citationNumber(c, index) {
    var n = parseInt(c.n, 10);
    return n > 0 ? n : index + 1;
  }

  function citationTitle(c) {
    return str(c.title).trim() || str(c.source).trim() || "Untitled document";
  }

  /** Publisher, date (if any) and page of a citation, for its sources line and the copy. */
  function citationMeta(c) {
    var meta = [];
    if (str(c.publisher).trim()) meta.push(str(c.publisher).trim());
    if (shownDate(c.date)) meta.push(shownDate(c.date));
    if (c.page != null && c.page !== "") meta.push("p. " + str(c.page));
    return meta.join(" \u00b7 ");
  }

  /** Sources open by default when there are one or two; a longer list starts folded. */
  var SOURCES_OPEN_UP_TO = 2;

  /**
   * The numbered sources as a disclosure: its node, and has(n) / title(n) / show(n) for the
   * inline [n] buttons (show opens the list, scrolls to source n and focuses it).
   */
  function renderSources(citations, refused) {
    var listId = uid("miw-sources-");
    var list = el("ol", { className: "miw-sources-list", id: listId });
    var items = {};
    citations.forEach(function (c, index) {
      var n = citationNumber(c, index);
      var title = citationTitle(c);
      var titleNode;
      if (isHttpUrl(c.source)) {
        titleNode = el("a", {
          className: "miw-source-title",
          href: c.source,
          target: "_blank",
          rel: "noopener noreferrer",
          text: title,
        });
      } else {
        titleNode = el("span", { className: "miw-source-title", text: title });
      }
      var meta = citationMeta(c);
      var children = [
        el("div", { className: "miw-source-head" }, [
          el("span", { className: "miw-source-n", text: "[" + n + "]" }),
          titleNode,
        ]),
      ];
      if (meta) children.push(el("p", { className: "miw-source-meta", text: meta }));
      if (!isHttpUrl(c.source) && str(c.source).trim() && str(c.source).trim() !== title) {
        children.push(el("p", { className: "miw-source-path", text: str(c.source).trim() }));
      }
      if (str(c.quote).trim()) children.push(renderQuote(c));
      var item = el("li", { className: "miw-source", "data-n": String(n), tabindex: "-1" }, children);
      if (!items[n]) items[n] = { node: item, title: title };
      list.appendChild(item);
    });
    var label = (refused ? "Closest passages" : "Sources") + " (" + citations.length + ")";
    var chevron = icon(ICONS.chevron, 14);
    chevron.setAttribute("class", "miw-chevron");
    var toggle = el("button", {
      type: "button",
      className: "miw-sources-toggle miw-sources-title",
      "aria-controls": listId,
    });
    toggle.appendChild(chevron);
    toggle.appendChild(document.createTextNode(label));
    function setOpen(open) {
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      list.hidden = !open;
    }
    setOpen(citations.length <= SOURCES_OPEN_UP_TO);
    toggle.addEventListener("click", function () {
      setOpen(list.hidden);
    });
    return {
      node: el("div", { className: "miw-sources" }, [toggle, list]),
      has: function (n) {
        return Object.prototype.hasOwnProperty.call(items, n);
      },
      title: function (n) {
        return items[n].title;
      },
      show: function (n) {
        setOpen(true);
        var item = items[n].node;
        var log = ui.log;
        log.scrollTop += item.getBoundingClientRect().top - log.getBoundingClientRect().top - 12;
        item.focus({ preventScroll: true });
        // Restart the highlight even when the same source is shown twice in a row.
        item.classList.remove("miw-source-target");
        void item.offsetWidth;
        item.classList.add("miw-source-target");
      },
    };
  }

  /** Highlight spans relative to the quote, clipped and merged. */
  function quoteHighlights(c, length) {
    var start = Number(c.start);
    var spans = [];
    if (!Array.isArray(c.highlights) || !isFinite(start)) return spans;
    c.highlights.forEach(function (h) {
      if (!Array.isArray(h) || h.length < 2) return;
      var a = Math.max(0, Number(h[0]) - start);
      var b = Math.min(length, Number(h[1]) - start);
      if (isFinite(a) && isFinite(b) && b > a) spans.push([a, b]);
    });
    spans.sort(function (x, y) {
      return x[0] - y[0];
    });
    var merged = [];
    spans.forEach(function (s) {
      var last = merged[merged.length - 1];
      if (last && s[0] <= last[1]) last[1] = Math.max(last[1], s[1]);
      else merged.push([s[0], s[1]]);
    });
    return merged;
  }

  /** Text of quote[from, to) into `target`, with highlighted spans as <mark>. */
  function fillQuote(target, quote, spans, from, to) {
    var pos = from;
    spans.forEach(function (s) {
      var a = Math.max(s[0], from);
      var b = Math.min(s[1], to);
      if (b <= a) return;
      if (a > pos) target.appendChild(document.createTextNode(quote.slice(pos, a)));
      target.appendChild(el("mark", { text: quote.slice(a, b) }));
      pos = b;
    });
    if (pos < to) target.appendChild(document.createTextNode(quote.slice(pos, to)));
  }

  function renderQuote(c) {
    var quote = str(c.quote).replace(/\s+$/, "");
    var spans = quoteHighlights(c, quote.length);
    var block = el("blockquote", { className: "miw-quote" });
    if (quote.length <= QUOTE_PREVIEW_CHARS + 40) {
      fillQuote(block, quote, spans, 0, quote.length);
      return block;
    }
    // Preview a window around the first highlighted sentence, cut at word boundaries.
    var from = 0;
    if (spans.length && spans[0][0] > 80) {
      from = spans[0][0] - 40;
      var space = quote.indexOf(" ", from);
      from = space >= 0 && space < spans[0][0] ? space + 1 : spans[0][0];
    }
    var to = Math.min(quote.length, from + QUOTE_PREVIEW_CHARS);
    if (to < quote.length) {
      var cut = quote.lastIndexOf(" ", to);
      if (cut > from + 120) to = cut;
    }
    var preview = el("span", { className: "miw-quote-preview" });
    if (from > 0) preview.appendChild(document.createTextNode("\u2026"));
    fillQuote(preview, quote, spans, from, to);
    if (to < quote.length) preview.appendChild(document.createTextNode("\u2026"));
    var full = el("span", { className: "miw-quote-full", hidden: true });
    fillQuote(full, quote, spans, 0, quote.length);
    block.appendChild(preview);
    block.appendChild(full);
    var toggle = el("button", {
      type: "button",
      className: "miw-quote-toggle",
      "aria-expanded": "false",
      text: "Show full passage",
    });
    toggle.addEventListener("click", function () {
      var expanded = toggle.getAttribute("aria-expanded") === "true";
      toggle.setAttribute("aria-expanded", expanded ? "false" : "true");
      toggle.textContent = expanded ? "Show full passage" : "Show less";
      preview.hidden = !expanded;
      full.hidden = expanded;
    });
    return el("div", { className: "miw-quote-wrap" }, [block, toggle]);
  }

  function nearBottom() {
    var log = ui.log;
    return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  }

  function scrollToBottom(force) {
    var log = ui.log;
    if (force || nearBottom()) log.scrollTop = log.scrollHeight;
  }

  /** Scroll to the end, but never past the start of a long answer. */
  function revealAnswer(node) {
    var log = ui.log;
    var bottom = log.scrollHeight - log.clientHeight;
    var answerTop = node.offsetTop - 12; // the log is the offsetParent (position: relative)
    log.scrollTop = Math.max(0, Math.min(bottom, answerTop));
  }

  // ---------------------------------------------------------------------------------
  // Open / close / new chat

  function open() {
    if (!ui) return;
    if (!isOpen) {
      isOpen = true;
      ui.panel.hidden = false;
      ui.root.setAttribute("data-open", "true");
      ui.bubble.setAttribute("aria-expanded", "true");
      ui.bubble.setAttribute("aria-label", "Close chat: " + config.title);
      scrollToBottom(true);
    }
    if (!busy) ui.input.focus();
    else ui.stop.focus({ preventScroll: true });
  }

  function close() {
    if (!ui || !isOpen) return;
    isOpen = false;
    ui.panel.hidden = true;
    ui.root.setAttribute("data-open", "false");
    ui.bubble.setAttribute("aria-expanded", "false");
    ui.bubble.setAttribute("aria-label", "Open chat: " + config.title);
    ui.bubble.focus();
  }

  function newChat() {
    stopCurrent = null;
    if (controller) controller.abort();
    messages = [];
    clearMessages();
    renderAll();
    setBusy(false);
    ui.input.value = "";
    autoGrow();
    if (isOpen) ui.input.focus();
  }

  function setBusy(value) {
    busy = value;
    ui.root.setAttribute("data-busy", value ? "true" : "false");
    ui.log.setAttribute("aria-busy", value ? "true" : "false");
    var typing = ui.shadow.activeElement === ui.input;
    ui.send.hidden = value;
    ui.stop.hidden = !value;
    if (value && typing) {
      // The textarea is disabled while the answer streams: the focus moves to the stop
      // button next to it, so a keyboard user can stop the answer with Enter or Space.
      ui.stop.focus({ preventScroll: true });
    }
    ui.input.disabled = value;
    ui.send.disabled = value;
    if (!value) {
      // Give the textarea back its focus if it had it (focus is parked on the panel).
      var inWidget = ui.shadow.activeElement;
      var parked = inWidget === ui.panel || inWidget === ui.stop;
      if (isOpen && (parked || (!inWidget && document.activeElement === document.body))) {
        ui.input.focus({ preventScroll: true });
      }
      var resolvers = pendingResolvers;
      pendingResolvers = [];
      resolvers.forEach(function (resolve) {
        resolve();
      });
    }
  }

  function submitInput() {
    var text = ui.input.value.trim();
    if (!text || busy) return;
    ui.input.value = "";
    autoGrow();
    send(text);
  }

  // ---------------------------------------------------------------------------------
  // Talking to the server

  function errorMessageFromBody(body) {
    if (!body || typeof body !== "object") return "";
    if (body.error && typeof body.error === "object" && body.error.message) return str(body.error.message);
    if (typeof body.error === "string") return body.error;
    if (typeof body.message === "string") return body.message;
    if (typeof body.detail === "string") return body.detail;
    if (Array.isArray(body.detail) && body.detail[0] && body.detail[0].msg) return str(body.detail[0].msg);
    return "";
  }

  var UNAVAILABLE = "This assistant is not available right now.";

  function errorTypeFromBody(body) {
    return body && body.error && typeof body.error === "object" ? str(body.error.type) : "";
  }

  /**
   * 401/403 mean the embedding is set up wrong (no data-key, an unknown or revoked key, a
   * page the key does not allow): only the site's developer can fix that, so the details
   * and the fix go to the browser console, never into the visitor's chat.
   */
  function reportSetupError(response, body) {
    var type = errorTypeFromBody(body);
    var origin = window.location.origin;
    var create = "assistant keys create --name SITE --origin " + origin;
    var fix;
    if (type === "origin_not_allowed") {
      fix =
        "This page's origin (" + origin + ") is not allowed" + (config.key ? " for the key in data-key" : "") +
        ". Put a widget key that allows it in the <script> tag's data-key; the server's operator " +
        "creates one with: " + create;
    } else if (!config.key) {
      fix =
        "The widget's <script> tag has no data-key. Add data-key=\"KEY\" with a widget key that " +
        "allows this page's origin (" + origin + "); the server's operator creates one with: " + create;
    } else {
      fix =
        "The key in data-key was not accepted (unknown or revoked). The server's operator " +
        "creates a new widget key with: " + create;
    }
    var detail = errorMessageFromBody(body);
    if (window.console && typeof window.console.error === "function") {
      window.console.error(
        "[Market Intelligence widget] " + (response.url || BASE + "api/ask") + " refused this page (HTTP " +
          response.status +
          (type ? " " + type : "") + ")" + (detail ? ": " + detail : ".") + "\n" + fix
      );
    }
  }

  function httpErrorMessage(response, body) {
    var message = errorMessageFromBody(body);
    var status = response.status;
    if (status === 401 || status === 403) {
      reportSetupError(response, body);
      return UNAVAILABLE;
    }
    if (status === 429) {
      var retry = parseInt(response.headers.get("Retry-After") || "", 10);
      var wait =
        retry > 0
          ? "Please wait " + retry + " second" + (retry === 1 ? "" : "s") + " and try again."
          : "Please wait a moment and try again.";
      return (message ? message.replace(/\s*$/, "") + " " : "Too many questions at once. ") + wait;
    }
    if (message) return message;
    if (status === 413) return "The question or conversation is too long. Start a new chat and try again.";
    if (status >= 500) return "The assistant ran into a problem (" + status + "). Please try again.";
    return "The assistant could not answer (HTTP " + status + ").";
  }

  /** Parse an SSE stream from a body reader, calling onEvent(name, data) per event. */
  function readEventStream(reader, onEvent) {
    var decoder = new TextDecoder("utf-8");
    var buffer = "";

    function dispatch(block) {
      var name = "message";
      var data = [];
      var lines = block.split("\n");
      for (var i = 0; i < lines.length; i++) {
        var line = lines[i];
        if (!line || line.charAt(0) === ":") continue;
        var colon = line.indexOf(":");
        var field = colon < 0 ? line : line.slice(0, colon);
        var value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.charAt(0) === " ") value = value.slice(1);
        if (field === "event") name = value;
        else if (field === "data") data.push(value);
      }
      if (!data.length) return;
      var payload;
      try {
        payload = JSON.parse(data.join("\n"));
      } catch (e) {
        payload = { text: data.join("\n") };
      }
      onEvent(name, payload);
    }

    function drain(final) {
      buffer = buffer.replace(/\r\n?/g, "\n");
      var index;
      while ((index = buffer.indexOf("\n\n")) >= 0) {
        var block = buffer.slice(0, index);
        buffer = buffer.slice(index + 2);
        dispatch(block);
      }
      if (final && buffer.trim()) {
        dispatch(buffer);
        buffer = "";
      }
    }

    function pump() {
      return reader.read().then(function (result) {
        if (result.done) {
          buffer += decoder.decode();
          drain(true);
          return;
        }
        buffer += decoder.decode(result.value, { stream: true });
        // A lone trailing "\r" may be half of "\r\n": keep it for the next chunk.
        if (buffer.charAt(buffer.length - 1) === "\r") {
          var keep = "\r";
          buffer = buffer.slice(0, -1);
          drain(false);
          buffer += keep;
        } else {
          drain(false);
        }
        return pump();
      });
    }
    return pump();
  }

  /** POST `body` (JSON text) to BASE + `path` with the widget's key, as a CORS request. */
  function post(path, body, accept, abortController) {
    var headers = { "Content-Type": "application/json", Accept: accept };
    if (config.key) headers["X-API-Key"] = config.key;
    return fetch(BASE + path, {
      method: "POST",
      mode: "cors",
      credentials: "omit",
      cache: "no-store",
      headers: headers,
      body: body,
      signal: abortController ? abortController.signal : undefined,
    });
  }

  function send(question) {
    if (busy) return Promise.resolve();
    question = str(question).trim().slice(0, MAX_QUESTION_CHARS);
    if (!question) return Promise.resolve();

    var history = historyForRequest();
    messages.push({ role: "user", content: question });
    saveMessages();
    ui.log.appendChild(renderUser(question));
    var view = createAssistantView();
    ui.log.appendChild(view.node);
    scrollToBottom(true);
    setBusy(true);

    var result = { role: "assistant", content: "", refused: false, citations: [], closest_topics: [] };
    var finished = false;
    var local = typeof AbortController === "function" ? new AbortController() : null;
    controller = local;

    /** The answer's final state: complete, an error message, or stopped by the visitor. */
    function finish(error, stopped) {
      if (finished) return;
      finished = true;
      if (controller === local) controller = null;
      if (stopCurrent === stop) stopCurrent = null;
      if (error) {
        result = { role: "assistant", content: error, error: true };
      } else if (stopped) {
        result.stopped = true; // keeps exactly the text the visitor saw
      }
      messages.push(result);
      saveMessages();
      var follow = nearBottom();
      finishView(view, result);
      if (follow) revealAnswer(view.node);
      setBusy(false);
    }

    var reader = null;
    function stop() {
      finish(null, true);
      if (local) local.abort(); // the server sees the connection close
      if (reader) reader.cancel().catch(function () {}); // and nothing more is read
    }
    stopCurrent = stop;

    var body = JSON.stringify({ question: question, history: history, stream: true });
    return post("api/ask", body, "text/event-stream", local)
      .then(function (response) {
        var type = (response.headers.get("Content-Type") || "").toLowerCase();
        if (!response.ok) {
          return response
            .json()
            .catch(function () {
              return null;
            })
            .then(function (data) {
              finish(httpErrorMessage(response, data));
            });
        }
        if (type.indexOf("text/event-stream") < 0 || !response.body) {
          // A server that answered with plain JSON instead of a stream.
          return response.json().then(function (data) {
            result.content = str(data && data.answer);
            result.refused = !!(data && data.refused);
            result.citations = (data && Array.isArray(data.citations) && data.citations) || [];
            result.closest_topics = (data && Array.isArray(data.closest_topics) && data.closest_topics) || [];
            finish(null);
          });
        }
        reader = response.body.getReader();
        return readEventStream(reader, function (name, data) {
          if (finished || controller !== local) return;
          data = data || {};
          if (name === "token") {
            var chunk = str(data.text);
            result.content += chunk;
            appendToken(view, chunk);
          } else if (name === "citations") {
            if (Array.isArray(data.citations)) result.citations = data.citations;
            if (typeof data.refused === "boolean") result.refused = data.refused;
            if (Array.isArray(data.closest_topics)) result.closest_topics = data.closest_topics;
            if (Array.isArray(data.sentences)) {
              result.unsupported = data.sentences
                .filter(function (s) { return s && s.supported === false && typeof s.text === "string"; })
                .map(function (s) { return s.text; });
            }
            if (Array.isArray(data.notes)) {
              result.notes = data.notes.filter(function (n) { return typeof n === "string"; });
            }
          } else if (name === "done") {
            if (typeof data.answer === "string" && data.answer) result.content = data.answer;
            if (typeof data.refused === "boolean") result.refused = data.refused;
            if (Array.isArray(data.closest_topics) && data.closest_topics.length) {
              result.closest_topics = data.closest_topics;
            }
            finish(null);
          } else if (name === "error") {
            finish(str(data.message) || "The assistant ran into a problem. Please try again.");
          }
        }).then(function () {
          if (!finished && controller === local) {
            if (result.content) finish(null);
            else finish("The connection closed before the answer arrived. Please try again.");
          }
        });
      })
      .catch(function (err) {
        if (err && err.name === "AbortError") {
          finished = true;
          return;
        }
        if (!finished && controller === local) {
          finish("Could not reach the assistant. Check your connection and try again.");
        }
      });
  }

  function ask(text) {
    if (!ui) {
      return new Promise(function (resolve) {
        whenReady(function () {
          resolve(ask(text));
        });
      });
    }
    open();
    if (busy) {
      return new Promise(function (resolve) {
        pendingResolvers.push(resolve);
      }).then(function () {
        return ask(text);
      });
    }
    return send(text);
  }

  // ---------------------------------------------------------------------------------
  // Start

  var readyCallbacks = [];
  function whenReady(callback) {
    if (ui) callback();
    else readyCallbacks.push(callback);
  }

  function start() {
    if (ui) return;
    build();
    var callbacks = readyCallbacks;
    readyCallbacks = [];
    callbacks.forEach(function (cb) {
      cb();
    });
  }

  window.MarketIntelligenceWidget = {
    __loaded: true,
    open: function () {
      whenReady(open);
    },
    close: function () {
      whenReady(close);
    },
    ask: ask,
    reset: function () {
      whenReady(newChat);
    },
    isOpen: function () {
      return isOpen;
    },
    baseUrl: BASE,
  };

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
