/*
 * Borrower-rights assistant: embeddable chat widget. Plain JS, no build step, no external resources.
 *
 *   <script src="http://HOST:PORT/widget.js" data-title="..." data-lang="auto|en|zh-Hans|zh-Hant"
 *           data-position="right|left" data-color="#0a7" async></script>
 *
 * Talks to the API at the script's own origin (POST /api/ask/stream, server-sent events read with fetch +
 * ReadableStream). Lives in a Shadow DOM; every piece of text is inserted with textContent / text nodes.
 * The conversation is kept in sessionStorage (this tab only) until "New conversation".
 */
(function () {
  "use strict";
  if (window.__borrowerBotWidget) return;
  window.__borrowerBotWidget = true;

  var STRINGS = /*STRINGS*/{"en": {"ui_title": "Borrower-rights assistant", "ui_placeholder": "Ask a question", "ui_send": "Send", "ui_reset": "New conversation", "ui_open": "Open chat", "ui_close": "Close", "ui_helpful": "Helpful", "ui_not_helpful": "Not helpful", "ui_thanks": "Thanks for the feedback.", "ui_error": "Something went wrong. Please try again.", "ui_busy": "Too many questions at once. Please wait a moment and try again.", "ui_show_source": "Show source", "ui_hide_source": "Hide source", "ui_messages": "Conversation", "ui_question": "Your question", "ui_answering": "Answering…", "ui_sources": "Sources", "notice": "This is general information from the cited documents, not legal advice."}}/*END*/;

  // --- configuration from the <script> tag -------------------------------------------------------------
  var script = document.currentScript;
  if (!script) {
    var all = document.getElementsByTagName("script");
    for (var i = all.length - 1; i >= 0; i--) {
      if (/\/widget\.js(\?|#|$)/.test(all[i].src)) { script = all[i]; break; }
    }
  }
  if (!script || !script.src) return;
  var API = new URL(script.src, location.href).origin;
  var data = script.dataset || {};

  function pickLang(v) {
    if (v === "en" || v === "zh-Hans" || v === "zh-Hant") return v;
    var nav = ((navigator.languages && navigator.languages[0]) || navigator.language || "en").toLowerCase();
    if (/^zh-(tw|hk|mo|hant)/.test(nav)) return "zh-Hant";
    if (/^zh/.test(nav)) return "zh-Hans";
    return "en";
  }
  var EXAMPLES = Array.isArray(STRINGS._examples) ? STRINGS._examples : [];
  var LANG = pickLang(data.lang);
  var S = STRINGS[LANG] || STRINGS.en || {};
  function t(key) { return S[key] || (STRINGS.en && STRINGS.en[key]) || key; }
  var TITLE = (data.title || t("ui_title")).slice(0, 80);
  var POSITION = data.position === "left" ? "left" : "right";
  var COLOR = /^#[0-9a-fA-F]{3,8}$/.test(data.color || "") ? data.color : "#0a7";
  var STORE_KEY = "borrowerBot:" + API;
  var MAX_STORED = 40;
  var MAX_HISTORY = 10;

  // --- state ---------------------------------------------------------------------------------------------
  var state = load();
  var busy = false;
  var controller = null;

  function load() {
    try {
      var raw = sessionStorage.getItem(STORE_KEY);
      var v = raw ? JSON.parse(raw) : null;
      if (v && Array.isArray(v.messages)) return { messages: v.messages, open: !!v.open };
    } catch (e) { /* storage unavailable or corrupt: start fresh */ }
    return { messages: [], open: false };
  }
  function save() {
    try {
      state.messages = state.messages.slice(-MAX_STORED);
      sessionStorage.setItem(STORE_KEY, JSON.stringify(state));
    } catch (e) { /* quota or privacy mode: keep it in memory only */ }
  }

  // --- DOM helpers (text only: no innerHTML anywhere) ---------------------------------------------------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      for (var k in attrs) {
        if (!Object.prototype.hasOwnProperty.call(attrs, k)) continue;
        if (k === "text") node.textContent = attrs[k];
        else if (k === "className") node.className = attrs[k];
        else node.setAttribute(k, attrs[k]);
      }
    }
    (children || []).forEach(function (c) {
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }

  var CSS = [
    ":host{all:initial}",
    "*{box-sizing:border-box}",
    ".root{font:14px/1.5 system-ui,-apple-system,'Segoe UI','Noto Sans CJK SC','PingFang SC','Microsoft YaHei',sans-serif;color:#1b1b1b;--c:" + COLOR + "}",
    ".launcher{position:fixed;bottom:16px;" + POSITION + ":16px;width:56px;height:56px;border-radius:50%;border:0;background:var(--c);color:#fff;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);display:flex;align-items:center;justify-content:center;padding:0}",
    ".launcher svg{width:28px;height:28px;fill:currentColor}",
    ".launcher:focus-visible,button:focus-visible,textarea:focus-visible,summary:focus-visible{outline:3px solid #1a73e8;outline-offset:2px}",
    ".panel{position:fixed;bottom:84px;" + POSITION + ":16px;width:380px;max-width:calc(100vw - 16px);height:600px;max-height:calc(100vh - 100px);background:#fff;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.3);display:flex;flex-direction:column;overflow:hidden}",
    ".panel[hidden]{display:none}",
    "@media (max-width:480px){.panel{left:8px;right:8px;width:auto;max-width:none;bottom:76px;height:auto;top:8px;max-height:none}}",
    "header{display:flex;align-items:center;gap:6px;padding:10px 10px 10px 14px;background:var(--c);color:#fff}",
    "h2{font-size:15px;line-height:1.3;margin:0;flex:1;min-width:0;overflow-wrap:anywhere;font-weight:600}",
    "header button{background:rgba(255,255,255,.18);color:#fff;border:0;border-radius:6px;padding:4px 8px;font:inherit;font-size:12px;cursor:pointer;white-space:nowrap}",
    "header button.close{font-size:18px;line-height:1;padding:2px 8px}",
    ".notice{margin:0;padding:6px 12px;font-size:12px;background:#fff8e6;color:#3a2a00;border-bottom:1px solid #f0e0b0}",
    ".log{flex:1;overflow-y:auto;padding:10px 12px;display:flex;flex-direction:column;gap:8px;overscroll-behavior:contain}",
    ".msg{max-width:92%;padding:8px 10px;border-radius:10px;white-space:pre-wrap;overflow-wrap:anywhere;word-break:break-word}",
    ".msg.user{align-self:flex-end;background:var(--c);color:#fff;border-bottom-right-radius:3px}",
    ".msg.bot{align-self:flex-start;background:#f2f4f5;border-bottom-left-radius:3px}",
    ".msg.error{background:#fdecea;color:#7a1010}",
    ".msg.pending .body:empty::after{content:'…';animation:blink 1s infinite}",
    "@keyframes blink{50%{opacity:.3}}",
    "button.cite{border:0;background:none;color:var(--c);font:inherit;font-weight:700;padding:0 1px;cursor:pointer;filter:brightness(.8)}",
    ".sources{margin-top:6px;display:flex;flex-direction:column;gap:4px;white-space:normal}",
    "details.src{background:#fff;border:1px solid #dde1e3;border-radius:8px;padding:4px 8px}",
    "details.src[open]{border-color:var(--c)}",
    "summary{cursor:pointer;font-weight:600;font-size:13px}",
    ".src-section{font-size:12px;color:#555;margin:2px 0}",
    ".src-text{font-size:13px;margin:2px 0;white-space:pre-wrap}",
    "mark{background:#fff0a8;color:inherit;border-radius:2px}",
    ".fb{display:flex;gap:6px;margin-top:6px;align-items:center;font-size:12px;color:#555}",
    ".fb button{border:1px solid #cfd4d7;background:#fff;color:#555;border-radius:6px;padding:3px 8px;cursor:pointer;font:inherit;line-height:0}",
    ".fb svg{width:14px;height:14px;fill:currentColor}",
    ".fb button[aria-pressed=true]{background:var(--c);color:#fff;border-color:var(--c)}",
    "form{display:flex;gap:6px;padding:8px;border-top:1px solid #e3e6e8;background:#fff}",
    "textarea{flex:1;min-width:0;resize:none;height:42px;max-height:120px;padding:8px 10px;border:1px solid #cfd4d7;border-radius:8px;font:inherit;color:#1b1b1b;background:#fff}",
    "form button{border:0;background:var(--c);color:#fff;border-radius:8px;padding:0 14px;font:inherit;font-weight:600;cursor:pointer}",
    "form button:disabled{opacity:.55;cursor:default}",
    ".greet{align-self:flex-start;max-width:92%;padding:8px 10px;border-radius:10px;background:#f2f4f5;border-bottom-left-radius:3px}",
    ".greet p{margin:0 0 6px}",
    ".examples{display:flex;flex-wrap:wrap;gap:6px}",
    ".examples button{border:1px solid var(--c);background:#fff;color:#1b1b1b;border-radius:14px;padding:3px 10px;font:inherit;font-size:13px;cursor:pointer;text-align:left}",
    ".examples button:hover{background:#eef8f4}",
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}"
  ].join("\n");

  // --- build the widget -----------------------------------------------------------------------------------
  var host = document.createElement("borrower-bot-widget");
  var hostStyle = { position: "fixed", "z-index": "2147483000", top: "0", left: "0", width: "0", height: "0",
                    display: "block", margin: "0", padding: "0", border: "0", overflow: "visible" };
  for (var p in hostStyle) host.style.setProperty(p, hostStyle[p], "important");
  var shadow = host.attachShadow({ mode: "open" });
  var style = document.createElement("style");
  style.textContent = CSS;
  shadow.appendChild(style);

  var root = el("div", { className: "root", lang: LANG });
  var uid = "bbw" + Math.random().toString(36).slice(2, 8);
  var launcher = el("button", { className: "launcher", type: "button", "aria-label": t("ui_open"),
                                "aria-expanded": "false", "aria-controls": uid + "-panel", title: TITLE });
  var svgNS = "http://www.w3.org/2000/svg";
  var svg = document.createElementNS(svgNS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  var path = document.createElementNS(svgNS, "path");
  path.setAttribute("d", "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2zm3 5v2h10V9H7zm0 4v2h7v-2H7z");
  svg.appendChild(path);
  launcher.appendChild(svg);

  var titleEl = el("h2", { id: uid + "-title", text: TITLE, title: TITLE });
  var resetBtn = el("button", { type: "button", className: "reset", text: t("ui_reset") });
  var closeBtn = el("button", { type: "button", className: "close", "aria-label": t("ui_close"), title: t("ui_close"), text: "×" });
  var header = el("header", null, [titleEl, resetBtn, closeBtn]);
  var notice = el("p", { className: "notice", role: "note", text: t("notice") });
  var log = el("div", { className: "log", role: "log", "aria-live": "polite", "aria-label": t("ui_messages"), tabindex: "0" });
  var input = el("textarea", { "aria-label": t("ui_question"), placeholder: t("ui_question"), rows: "1", maxlength: "2000" });
  var sendBtn = el("button", { type: "submit", text: t("ui_send") });
  var form = el("form", null, [input, sendBtn]);
  var status = el("div", { className: "sr", role: "status", "aria-live": "polite" });
  var panel = el("div", { className: "panel", id: uid + "-panel", role: "dialog", "aria-modal": "false",
                          "aria-labelledby": uid + "-title" }, [header, notice, log, form, status]);
  panel.hidden = true;
  root.appendChild(panel);
  root.appendChild(launcher);
  shadow.appendChild(root);

  // --- rendering --------------------------------------------------------------------------------------------
  function appendWithCites(container, text, sourcesBox) {
    var re = /\[(\d{1,3})\]/g, last = 0, m;
    while ((m = re.exec(text)) !== null) {
      if (m.index > last) container.appendChild(document.createTextNode(text.slice(last, m.index)));
      var n = m[1];
      if (sourcesBox && sourcesBox.querySelector('details[data-n="' + n + '"]')) {
        container.appendChild(citeButton(n, sourcesBox));
      } else {
        container.appendChild(document.createTextNode(m[0]));
      }
      last = re.lastIndex;
    }
    if (last < text.length) container.appendChild(document.createTextNode(text.slice(last)));
  }

  function citeButton(n, sourcesBox) {
    var b = el("button", { type: "button", className: "cite", "aria-expanded": "false",
                           "aria-label": t("ui_show_source") + " " + n, text: "[" + n + "]" });
    b.addEventListener("click", function () {
      var d = sourcesBox.querySelector('details[data-n="' + n + '"]');
      if (!d) return;
      d.open = !d.open;
      b.setAttribute("aria-expanded", d.open ? "true" : "false");
      b.setAttribute("aria-label", (d.open ? t("ui_hide_source") : t("ui_show_source")) + " " + n);
      if (d.open) {
        d.scrollIntoView({ block: "nearest", behavior: "smooth" });
        var s = d.querySelector("summary");
        if (s) s.focus({ preventScroll: true });
      }
    });
    return b;
  }

  function passageNode(text, quote) {
    var p = el("div", { className: "src-text" });
    var i = quote ? text.indexOf(quote) : -1;
    if (i < 0) { p.textContent = text; return p; }
    p.appendChild(document.createTextNode(text.slice(0, i)));
    p.appendChild(el("mark", { text: quote }));
    p.appendChild(document.createTextNode(text.slice(i + quote.length)));
    return p;
  }

  function sourcesNode(citations) {
    var box = el("div", { className: "sources", role: "group", "aria-label": t("ui_sources") });
    (citations || []).forEach(function (c) {
      var n = String(c.n);
      var d = el("details", { className: "src", "data-n": n });
      d.appendChild(el("summary", { text: "[" + n + "] " + (c.title || "") }));
      if (c.section) d.appendChild(el("div", { className: "src-section", text: c.section }));
      d.appendChild(passageNode(String(c.text || ""), String(c.quote || "")));
      box.appendChild(d);
    });
    return box;
  }

  var THUMB = "M1 21h4V9H1v12zm22-11c0-1.1-.9-2-2-2h-6.31l.95-4.57.03-.32c0-.41-.17-.79-.44-1.06L14.17 1 7.59 7.59C7.22 7.95 7 8.45 7 9v10c0 1.1.9 2 2 2h9c.83 0 1.54-.5 1.84-1.22l3.02-7.05c.09-.23.14-.47.14-.73v-2z";
  function thumb(down) {
    var s = document.createElementNS(svgNS, "svg");
    s.setAttribute("viewBox", "0 0 24 24");
    s.setAttribute("aria-hidden", "true");
    if (down) s.setAttribute("transform", "rotate(180)");
    var p = document.createElementNS(svgNS, "path");
    p.setAttribute("d", THUMB);
    s.appendChild(p);
    return s;
  }

  function feedbackNode(msg) {
    var wrap = el("div", { className: "fb" });
    var up = el("button", { type: "button", "aria-label": t("ui_helpful"), title: t("ui_helpful"), "aria-pressed": String(msg.rating === "up") }, [thumb(false)]);
    var down = el("button", { type: "button", "aria-label": t("ui_not_helpful"), title: t("ui_not_helpful"), "aria-pressed": String(msg.rating === "down") }, [thumb(true)]);
    var note = el("span", { text: msg.rating ? t("ui_thanks") : "" });
    function rate(r) {
      if (msg.rating) return;
      msg.rating = r;
      save();
      up.setAttribute("aria-pressed", String(r === "up"));
      down.setAttribute("aria-pressed", String(r === "down"));
      note.textContent = t("ui_thanks");
      fetch(API + "/api/feedback", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(msg.answerId
          ? { rating: r, answer_id: msg.answerId, language: msg.language || LANG, source: "widget" }
          : { rating: r, answer: msg.content, language: msg.language || LANG, source: "widget" })
      }).then(function (res) {
        if (!res.ok) note.textContent = res.status === 429 ? t("ui_busy") : t("ui_feedback_failed");
      }).catch(function () { note.textContent = t("ui_feedback_failed"); });
    }
    up.addEventListener("click", function () { rate("up"); });
    down.addEventListener("click", function () { rate("down"); });
    wrap.appendChild(up); wrap.appendChild(down); wrap.appendChild(note);
    return wrap;
  }

  function renderMessage(msg) {
    var node = el("div", { className: "msg " + (msg.role === "user" ? "user" : "bot") + (msg.error ? " error" : "") });
    var body = el("div", { className: "body" });
    node.appendChild(body);
    if (msg.role === "assistant" && msg.citations && msg.citations.length) {
      var sources = sourcesNode(msg.citations);
      appendWithCites(body, msg.content, sources);
      node.appendChild(sources);
    } else {
      body.textContent = msg.content;
    }
    if (msg.role === "assistant" && !msg.error && msg.done) node.appendChild(feedbackNode(msg));
    return node;
  }

  // An empty conversation opens with a greeting and example questions (a click asks one).
  function greeting() {
    var box = el("div", { className: "greet" }, [el("p", { text: t("ui_greeting") })]);
    if (EXAMPLES.length) {
      var list = el("div", { className: "examples", role: "group", "aria-label": t("ui_examples_label") });
      EXAMPLES.forEach(function (q) {
        var b = el("button", { type: "button", text: String(q) });
        b.addEventListener("click", function () { if (!busy) { input.value = String(q); submit(); } });
        list.appendChild(b);
      });
      box.appendChild(list);
    }
    return box;
  }

  function renderAll() {
    while (log.firstChild) log.removeChild(log.firstChild);
    if (!state.messages.length) log.appendChild(greeting());
    state.messages.forEach(function (m) { log.appendChild(renderMessage(m)); });
    log.scrollTop = log.scrollHeight;
  }

  // --- open / close / reset ----------------------------------------------------------------------------------
  function setOpen(open, focus) {
    state.open = open;
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", open ? "true" : "false");
    save();
    if (open) {
      log.scrollTop = log.scrollHeight;
      if (focus !== false) input.focus();
    } else if (focus !== false) {
      launcher.focus();
    }
  }
  launcher.addEventListener("click", function () { setOpen(panel.hidden); });
  closeBtn.addEventListener("click", function () { setOpen(false); });
  resetBtn.addEventListener("click", function () {
    if (controller) controller.abort();
    state.messages = [];
    save();
    renderAll();
    input.value = "";
    input.focus();
  });
  panel.addEventListener("keydown", function (e) {
    if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); setOpen(false); }
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
  });
  form.addEventListener("submit", function (e) { e.preventDefault(); submit(); });

  // --- asking: POST /api/ask/stream, parse server-sent events from the response body ------------------------
  function history() {
    return state.messages.filter(function (m) { return !m.error && m.done !== false; })
      .slice(-2 * MAX_HISTORY)
      .map(function (m) { return { role: m.role, content: m.content }; });
  }

  function submit() {
    var q = input.value.trim();
    if (!q || busy) return;
    var hist = history();
    input.value = "";
    var userMsg = { role: "user", content: q };
    var botMsg = { role: "assistant", content: "", done: false };
    state.messages.push(userMsg, botMsg);
    save();
    var greet = log.querySelector(".greet");
    if (greet) log.removeChild(greet);
    log.appendChild(renderMessage(userMsg));
    var node = el("div", { className: "msg bot pending" });
    var body = el("div", { className: "body" });
    node.appendChild(body);
    log.appendChild(node);
    log.scrollTop = log.scrollHeight;
    setBusy(true);
    status.textContent = t("ui_answering");

    controller = typeof AbortController !== "undefined" ? new AbortController() : null;
    var mine = controller;
    function fail(message) {
      botMsg.content = message;
      botMsg.error = true;
      botMsg.done = true;
      finish();
    }
    function finish() {
      save();
      var fresh = renderMessage(botMsg);
      if (node.parentNode) node.parentNode.replaceChild(fresh, node);
      node = fresh;
      log.scrollTop = log.scrollHeight;
      status.textContent = "";
      setBusy(false);
      if (controller === mine) controller = null;
    }

    fetch(API + "/api/ask/stream", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "text/event-stream" },
      body: JSON.stringify({ question: q, history: hist }),
      signal: mine ? mine.signal : undefined
    }).then(function (res) {
      if (!res.ok) {
        return res.json().catch(function () { return {}; }).then(function (j) {
          fail(res.status === 429 ? t("ui_busy") : (j && typeof j.error === "string" ? j.error : t("ui_error")));
        });
      }
      if (!res.body || !res.body.getReader) {
        return res.text().then(function (txt) { parseChunk(txt + "\n\n"); end(); });
      }
      var reader = res.body.getReader();
      var decoder = new TextDecoder();
      function pump() {
        return reader.read().then(function (r) {
          if (r.done) { parseChunk(decoder.decode() + "\n\n"); end(); return; }
          parseChunk(decoder.decode(r.value, { stream: true }));
          return pump();
        });
      }
      return pump();
    }).catch(function (err) {
      if (err && err.name === "AbortError") { setBusy(false); controller = null; return; }
      fail(t("ui_error"));
    });

    var buffer = "";
    var ended = false;
    function parseChunk(chunk) {
      buffer += chunk.replace(/\r\n?/g, "\n");
      var idx;
      while ((idx = buffer.indexOf("\n\n")) >= 0) {
        var block = buffer.slice(0, idx);
        buffer = buffer.slice(idx + 2);
        var event = "message", dataLines = [];
        block.split("\n").forEach(function (line) {
          if (line.indexOf("event:") === 0) event = line.slice(6).trim();
          else if (line.indexOf("data:") === 0) dataLines.push(line.slice(5).replace(/^ /, ""));
        });
        if (!dataLines.length) continue;
        var payload;
        try { payload = JSON.parse(dataLines.join("\n")); } catch (e) { continue; }
        onEvent(event, payload);
      }
    }
    function onEvent(event, payload) {
      if (ended) return;
      if (event === "delta" && typeof payload.text === "string") {
        botMsg.content += payload.text;
        body.textContent = botMsg.content;
        log.scrollTop = log.scrollHeight;
      } else if (event === "citations" && Array.isArray(payload.citations)) {
        botMsg.citations = payload.citations;
      } else if (event === "done") {
        ended = true;
        if (typeof payload.answer === "string") botMsg.content = payload.answer;
        if (Array.isArray(payload.citations)) botMsg.citations = payload.citations;
        botMsg.language = payload.language;
        if (typeof payload.answer_id === "string") botMsg.answerId = payload.answer_id;
        botMsg.done = true;
        finish();
      } else if (event === "error") {
        ended = true;
        fail(typeof payload.error === "string" ? payload.error : t("ui_error"));
      }
    }
    function end() {
      if (!ended) { ended = true; if (botMsg.content) { botMsg.done = true; finish(); } else { fail(t("ui_error")); } }
    }
  }

  function setBusy(b) {
    busy = b;
    sendBtn.disabled = b;
    log.setAttribute("aria-busy", b ? "true" : "false");
  }

  // --- start ---------------------------------------------------------------------------------------------------
  // Drop an answer that was cut off by a page reload mid-stream.
  state.messages = state.messages.filter(function (m) { return m.done !== false; });
  renderAll();
  function mount() {
    document.body.appendChild(host);
    if (state.open) setOpen(true, false);
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
