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
          return { role: m.role, content: m.content, refused: m.refused, error: m.error };
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

  /** Previous completed turns, as the API expects them; failed turns are left out. */
  function historyForRequest() {
    var turns = [];
    for (var i = 0; i < messages.length; i++) {
      var m = messages[i];
      var next = messages[i + 1];
      if (m.role === "user") {
        if (next && next.role === "assistant" && !next.error && next.content) {
          turns.push({ role: "user", content: m.content });
          turns.push({ role: "assistant", content: next.content });
          i++;
        }
      }
    }
    turns = turns.slice(-MAX_HISTORY_MESSAGES);
    while (turns.length && JSON.stringify(turns).length > MAX_BODY_CHARS - 4000) {
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
  var pendingResolvers = [];
  var ui = null;

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

    var form = el("form", { className: "miw-composer", novalidate: true }, [input, sendBtn]);
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
    if (typeof m.content === "string" && m.content) view.textNode.data = m.content;
    markUnsupported(view, m.unsupported);
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
      if (!view.textNode.data) {
        view.textNode.data = "I could not find this in the documents.";
      }
      var topics = (m.closest_topics || []).filter(function (t) {
        return typeof t === "string" && t.trim();
      });
      if (topics.length) view.bubble.appendChild(renderTopics(topics));
    }
    var citations = Array.isArray(m.citations) ? m.citations : [];
    if (citations.length) view.bubble.appendChild(renderSources(citations, !!m.refused));
  }

  /** Sentences that no cited source supports get a visible mark (text stays text). */
  function markUnsupported(view, sentences) {
    if (!Array.isArray(sentences) || !sentences.length) return;
    var text = view.textNode.data;
    var fragment = document.createDocumentFragment();
    var cursor = 0;
    sentences.forEach(function (sentence) {
      var start = text.indexOf(sentence, cursor);
      if (start < 0) return;
      fragment.appendChild(document.createTextNode(text.slice(cursor, start)));
      var span = el("span", {
        className: "miw-unsupported",
        title: "No cited source supports this sentence",
        text: sentence,
      });
      fragment.appendChild(span);
      fragment.appendChild(el("span", { className: "miw-unsupported-label", text: " (unsupported)" }));
      cursor = start + sentence.length;
    });
    fragment.appendChild(document.createTextNode(text.slice(cursor)));
    view.text.textContent = "";
    view.text.appendChild(fragment);
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

  function renderSources(citations, refused) {
    var list = el("ol", { className: "miw-sources-list" });
    citations.forEach(function (c, index) {
      if (!c || typeof c !== "object") return;
      var n = parseInt(c.n, 10);
      if (!(n > 0)) n = index + 1;
      var title = str(c.title).trim() || str(c.source).trim() || "Untitled document";
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
      var meta = [];
      if (str(c.publisher).trim()) meta.push(str(c.publisher).trim());
      var date = str(c.date).trim();
      if (date && !/^(unknown|n\/?a|none|null|undated|n\.d\.)$/i.test(date)) meta.push(date);
      if (c.page != null && c.page !== "") meta.push("p. " + str(c.page));
      var children = [
        el("div", { className: "miw-source-head" }, [
          el("span", { className: "miw-source-n", text: "[" + n + "]" }),
          titleNode,
        ]),
      ];
      if (meta.length) children.push(el("p", { className: "miw-source-meta", text: meta.join(" \u00b7 ") }));
      if (!isHttpUrl(c.source) && str(c.source).trim() && str(c.source).trim() !== title) {
        children.push(el("p", { className: "miw-source-path", text: str(c.source).trim() }));
      }
      if (str(c.quote).trim()) children.push(renderQuote(c));
      list.appendChild(el("li", { className: "miw-source", "data-n": String(n) }, children));
    });
    return el("div", { className: "miw-sources" }, [
      el("p", { className: "miw-sources-title", text: refused ? "Closest passages" : "Sources" }),
      list,
    ]);
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
    else ui.panel.focus({ preventScroll: true });
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
    if (value && ui.shadow.activeElement === ui.input) {
      // Keep focus inside the widget while the textarea is disabled.
      ui.panel.focus({ preventScroll: true });
    }
    ui.input.disabled = value;
    ui.send.disabled = value;
    if (!value) {
      // Give the textarea back its focus if it had it (focus is parked on the panel).
      var inWidget = ui.shadow.activeElement;
      if (isOpen && (inWidget === ui.panel || (!inWidget && document.activeElement === document.body))) {
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
        "[Market Intelligence widget] " + BASE + "api/ask refused this page (HTTP " + response.status +
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

  /** Parse an SSE stream from a fetch Response, calling onEvent(name, data) per event. */
  function readEventStream(response, onEvent) {
    var reader = response.body.getReader();
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

    function finish(error) {
      if (finished) return;
      finished = true;
      if (controller === local) controller = null;
      if (error) {
        result = { role: "assistant", content: error, error: true };
      }
      messages.push(result);
      saveMessages();
      var follow = nearBottom();
      finishView(view, result);
      if (follow) revealAnswer(view.node);
      setBusy(false);
    }

    var headers = { "Content-Type": "application/json", Accept: "text/event-stream" };
    if (config.key) headers["X-API-Key"] = config.key;

    var body = JSON.stringify({ question: question, history: history, stream: true });
    return fetch(BASE + "api/ask", {
      method: "POST",
      mode: "cors",
      credentials: "omit",
      cache: "no-store",
      headers: headers,
      body: body,
      signal: local ? local.signal : undefined,
    })
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
        return readEventStream(response, function (name, data) {
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
