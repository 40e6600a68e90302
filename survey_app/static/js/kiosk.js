/* The counter kiosk (templates/kiosk/screen.html) and its enrolment page (kiosk/enrol.html).
 *
 * Storage: one IndexedDB database, "survey-kiosk", with
 *   - "device":   the device credential, the last configuration and questionnaire definition
 *                 (so that the kiosk starts offline); nothing about any citizen;
 *   - "outbox":   completed responses not yet acknowledged by the server (the delivery queue);
 *   - "rejected": responses the server refused for good (4xx other than 401/408/429); kept, never
 *                 discarded, and counted in the queue length staff see.
 * A citizen's answers live only in memory (and the DOM) until they finish; then the response,
 * with its UUID and the time it was given, goes into "outbox" and the screen is rebuilt from
 * nothing. The credential travels only in the Authorization header, never in a cookie.
 */
(() => {
  "use strict";

  const body = document.body;
  const APP_VERSION = body.dataset.appVersion || "kiosk-1";
  const DB_NAME = "survey-kiosk";
  const STATIC = body.dataset.static || "/static/";

  // --- IndexedDB --------------------------------------------------------------------------------

  let dbPromise = null;
  function openDb() {
    if (!dbPromise) {
      dbPromise = new Promise((resolve, reject) => {
        const request = indexedDB.open(DB_NAME, 1);
        request.onupgradeneeded = () => {
          const db = request.result;
          if (!db.objectStoreNames.contains("device")) db.createObjectStore("device");
          if (!db.objectStoreNames.contains("outbox")) db.createObjectStore("outbox", { keyPath: "id" });
          if (!db.objectStoreNames.contains("rejected")) db.createObjectStore("rejected", { keyPath: "id" });
        };
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
      });
    }
    return dbPromise;
  }

  async function store(name, mode, action) {
    const db = await openDb();
    return new Promise((resolve, reject) => {
      const transaction = db.transaction(name, mode);
      const request = action(transaction.objectStore(name));
      transaction.oncomplete = () => resolve(request ? request.result : undefined);
      transaction.onerror = () => reject(transaction.error);
      transaction.onabort = () => reject(transaction.error);
    });
  }
  const idbGet = (name, key) => store(name, "readonly", (s) => s.get(key));
  const idbPut = (name, value, key) => store(name, "readwrite", (s) => (key === undefined ? s.put(value) : s.put(value, key)));
  const idbDelete = (name, key) => store(name, "readwrite", (s) => s.delete(key));
  const idbAll = (name) => store(name, "readonly", (s) => s.getAll());
  const idbCount = (name) => store(name, "readonly", (s) => s.count());

  // --- helpers ------------------------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function uuid4() {
    const bytes = crypto.getRandomValues(new Uint8Array(16)); // works without a secure context too
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  function registerServiceWorker() {
    if (!("serviceWorker" in navigator) || !body.dataset.sw) return;
    const workers = navigator.serviceWorker;
    const mark = () => { if (workers.controller) body.dataset.offline = "ready"; };
    workers.addEventListener("controllerchange", mark);
    workers
      .register(body.dataset.sw, { scope: "/kiosk/" })
      .then(() => workers.ready)
      .then((registration) => {
        mark();
        // A page whose navigation was under way while the worker activated is neither served by it
        // nor claimed by its activate step, and would stay uncontrolled (so not startable offline)
        // until the next load, which a kiosk may not see for days. Such a page asks to be claimed.
        if (!workers.controller && registration.active) registration.active.postMessage("claim");
      })
      .catch(() => { body.dataset.offline = "unavailable"; });
  }

  // --- the enrolment page ---------------------------------------------------------------------------

  async function enrolPage() {
    registerServiceWorker();
    if (body.dataset.state !== "ready") return;
    const status = document.getElementById("k-enrol-status");
    const button = document.getElementById("k-enrol");
    const attempt = async () => {
      button.hidden = true;
      try {
        const response = await fetch(location.pathname, { method: "POST", credentials: "omit", cache: "no-store" });
        const answer = await response.json();
        if (response.status !== 200 || !answer.credential) {
          body.dataset.state = "invalid";
          status.textContent = "Liên kết không còn hiệu lực. / This link is no longer valid.";
          return;
        }
        await idbPut("device", answer.credential, "credential");
        await idbDelete("device", "config");
        body.dataset.state = "enrolled";
        location.replace(body.dataset.screen); // replace: the enrolment page leaves no history
      } catch (error) {
        status.textContent = "Không kết nối được, xin thử lại. / Could not connect; please try again.";
        button.hidden = false;
      }
    };
    button.addEventListener("click", attempt);
    attempt();
  }

  // --- texts of the kiosk itself (the questionnaire brings its own) -------------------------------

  const UI = {
    vi: {
      switchTo: "English", switchLang: "en", switchLabel: "Switch to English",
      officer: "Cán bộ phục vụ", step: (i, n) => `Bước ${i}/${n}`, next: "Tiếp tục", back: "Quay lại",
      send: "Gửi đánh giá", thanks: "Xin cảm ơn Ông/Bà!", thanksMore: "Ý kiến của Ông/Bà giúp chúng tôi phục vụ tốt hơn.",
      notEnrolled: "Máy này chưa được đăng ký làm máy đánh giá. Xin cán bộ quản lý mở liên kết đăng ký trên máy này.",
      revoked: "Máy đánh giá này đã bị thu hồi và cần được đăng ký lại. Xin liên hệ cán bộ quản lý.",
      loading: "Đang tải…", offlineStart: "Chưa tải được cấu hình. Máy sẽ thử lại khi có mạng.",
      progress: "Tiến độ", counter: "Quầy",
    },
    en: {
      switchTo: "Tiếng Việt", switchLang: "vi", switchLabel: "Chuyển sang tiếng Việt",
      officer: "Serving you", step: (i, n) => `Step ${i} of ${n}`, next: "Next", back: "Back",
      send: "Send my rating", thanks: "Thank you!", thanksMore: "Your opinion helps us serve you better.",
      notEnrolled: "This tablet is not enrolled as a kiosk. Ask a manager to open the enrolment link on it.",
      revoked: "This kiosk has been revoked and needs to be enrolled again. Please contact a manager.",
      loading: "Loading…", offlineStart: "The configuration could not be loaded yet. The tablet will retry when online.",
      progress: "Progress", counter: "Counter",
    },
  };

  // --- the kiosk screen ---------------------------------------------------------------------------

  const screenEl = () => document.getElementById("k-screen");
  const device = { credential: null, config: null, definition: null, pending: null, revoked: false };
  let citizen = null; // { locale, step, answers, done } — in memory only
  let idleTimer = null;
  let thanksTimer = null;
  let heartbeatTimer = null;

  function texts() { return UI[citizen ? citizen.locale : "vi"]; }
  function loc(localized) {
    if (!localized) return "";
    const locale = citizen ? citizen.locale : "vi";
    const text = localized[locale] || localized.vi || "";
    const place = device.config ? device.config.unit.place_name[locale] || device.config.unit.place_name.vi : "";
    return text.split("[ĐPV]").join(place);
  }

  function setState(state) { body.dataset.state = state; }

  function showMessage(text, alert) {
    clearTimers();
    citizen = null;
    document.getElementById("k-progress").hidden = true;
    document.getElementById("k-officer").hidden = true;
    document.getElementById("k-lang").hidden = true;
    screenEl().replaceChildren(el("p", { class: alert ? "k-message k-alert" : "k-message", role: alert ? "alert" : "status", text }));
  }

  function clearTimers() {
    clearTimeout(idleTimer);
    clearTimeout(thanksTimer);
    idleTimer = thanksTimer = null;
  }

  function started() {
    return citizen && !citizen.done && (citizen.step > 0 || citizen.locale !== "vi" || Object.keys(citizen.answers).length > 0);
  }

  function armIdle() {
    clearTimeout(idleTimer);
    idleTimer = null;
    if (started()) {
      idleTimer = setTimeout(newCitizen, (device.config.idle_seconds || 30) * 1000);
    }
  }

  /** The start screen for the next citizen: rebuilt from nothing, Vietnamese, no history. */
  function newCitizen() {
    clearTimers();
    if (device.pending) { // a newer configuration or definition waits for a quiet moment
      Object.assign(device, device.pending);
      device.pending = null;
    }
    if (document.activeElement && document.activeElement.blur) document.activeElement.blur();
    screenEl().replaceChildren();
    if (device.revoked) { showMessage(UI.vi.revoked + " / " + UI.en.revoked, true); setState("revoked"); return; }
    if (!device.config || !device.definition) { showMessage(UI.vi.offlineStart + " / " + UI.en.offlineStart); setState("waiting"); return; }
    citizen = { locale: "vi", step: 0, answers: {}, done: false };
    history.replaceState(null, "", location.pathname);
    window.scrollTo(0, 0);
    render();
    setState("question");
  }

  function questionOf(key) { return device.definition.questions.find((q) => q.key === key); }

  function visible(question) {
    const condition = question.show_if;
    if (!condition) return true;
    const given = citizen.answers[condition.question];
    return condition.values.includes(given);
  }

  function renderHeader() {
    const t = texts();
    const locale = citizen ? citizen.locale : "vi";
    const config = device.config;
    document.documentElement.lang = locale;
    document.title = locale === "vi" ? "Đánh giá sự hài lòng" : "Rate our service";
    document.getElementById("k-unit").textContent = config.unit.name[locale] || config.unit.name.vi;
    document.getElementById("k-counter").textContent = config.counter.name[locale] || config.counter.name.vi;
    const lang = document.getElementById("k-lang");
    lang.hidden = false;
    lang.textContent = t.switchTo;
    lang.setAttribute("lang", t.switchLang);
    lang.setAttribute("aria-label", t.switchLabel);
    const officer = document.getElementById("k-officer");
    if (config.officer) {
      officer.hidden = false;
      officer.textContent = `${t.officer}: ${config.officer.name}${config.officer.title ? " – " + config.officer.title : ""}`;
    } else {
      officer.hidden = true;
      officer.textContent = "";
    }
  }

  function renderProgress() {
    const pages = device.definition.pages;
    const progress = document.getElementById("k-progress");
    const t = texts();
    const current = citizen.step + 1;
    const bar = el("div", {
      class: "k-bar", role: "progressbar", "aria-label": t.progress,
      "aria-valuemin": "1", "aria-valuemax": String(pages.length), "aria-valuenow": String(current),
    }, el("span", { style: null }));
    bar.firstChild.style.width = `${Math.round((current / pages.length) * 100)}%`;
    progress.replaceChildren(el("p", { id: "k-step", text: t.step(current, pages.length) }), bar);
    progress.hidden = false;
  }

  function optionButton(question, option, pressed, onTap, withFace) {
    const face = withFace && option.face
      ? el("img", { src: `${STATIC}kiosk/faces/${option.face}.svg`, alt: "", width: "64", height: "64" })
      : null;
    return el("button", {
      type: "button", class: "k-option", "aria-pressed": pressed ? "true" : "false",
      "data-question": question.key, "data-value": String(option.value),
      onclick: (event) => { event.preventDefault(); onTap(option.value); },
    }, face, question.type === "multi" ? el("span", { class: "k-check", "aria-hidden": "true" }) : null, el("span", { text: loc(option.label) }));
  }

  function renderQuestion(question, single) {
    const id = `k-q-${question.key}`;
    const answers = citizen.answers;
    if (question.type === "text") {
      const area = el("textarea", {
        id, class: "k-textarea", maxlength: String(question.max_length || 500), rows: "3",
        autocomplete: "off", autocorrect: "off", spellcheck: "false", "data-question": question.key,
        oninput: (event) => { citizen.answers[question.key] = event.target.value; armIdle(); },
      });
      area.value = answers[question.key] || "";
      return el("div", { class: "k-question" }, el("label", { class: "k-label", for: id, text: loc(question.text) }), area);
    }
    const isScale = question.type === "scale";
    const options = isScale ? device.definition.scales[question.scale].options : question.options;
    const group = el("div", { class: `k-options ${isScale ? "" : "k-choice"}`, role: "group", "aria-labelledby": `${id}-text` });
    for (const option of options) {
      const pressed = question.type === "multi"
        ? (answers[question.key] || []).includes(option.value)
        : answers[question.key] === option.value;
      group.append(optionButton(question, option, pressed, (value) => answer(question, value), isScale));
    }
    const wrapper = el("div", { class: `k-question ${single && isScale ? "k-big" : ""}`, "data-question": question.key },
      el("p", { class: "k-text", id: `${id}-text`, text: loc(question.text) }),
      question.note ? el("p", { class: "k-note", text: loc(question.note) }) : null,
      group);
    return wrapper;
  }

  function render() {
    renderHeader();
    renderProgress();
    const t = texts();
    const pages = device.definition.pages;
    const page = pages[citizen.step];
    const questions = page.questions.map(questionOf).filter((q) => q && visible(q));
    const single = pages.length === 1;
    const heading = el("h1", { id: "k-heading", tabindex: "-1", text: single && questions.length === 1 ? loc(questions[0].text) : loc(page.title) });
    const parts = [heading];
    questions.forEach((q, i) => {
      const node = renderQuestion(q, single);
      if (single && i === 0 && q.type === "scale" && questions.length >= 1 && heading.textContent === loc(q.text)) {
        node.querySelector(".k-text").classList.add("k-sr"); // the heading already says it
        node.querySelector(".k-text").hidden = true;
        node.querySelector(".k-options").setAttribute("aria-labelledby", "k-heading");
      }
      parts.push(node);
    });
    const last = citizen.step === pages.length - 1;
    const needsSend = !single || questions.length > 1;
    const nav = el("div", { class: "k-nav" },
      citizen.step > 0 ? el("button", { type: "button", class: "k-button", id: "k-back", text: t.back, onclick: () => go(-1) }) : null,
      needsSend ? el("button", {
        type: "button", class: "k-button k-primary", id: last ? "k-send" : "k-next",
        text: last ? t.send : t.next, onclick: () => (last ? complete() : go(1)),
      }) : null);
    parts.push(nav);
    screenEl().replaceChildren(...parts);
  }

  function go(delta) {
    if (!citizen || citizen.done) return;
    citizen.step = Math.max(0, Math.min(device.definition.pages.length - 1, citizen.step + delta));
    render();
    window.scrollTo(0, 0);
    const heading = document.getElementById("k-heading");
    if (heading) heading.focus({ preventScroll: true });
    armIdle();
  }

  function answer(question, value) {
    if (!citizen || citizen.done) return; // a second tap after completion does nothing
    if (question.type === "multi") {
      const chosen = new Set(citizen.answers[question.key] || []);
      if (chosen.has(value)) chosen.delete(value); else chosen.add(value);
      citizen.answers[question.key] = [...chosen].sort((a, b) => a - b);
    } else {
      citizen.answers[question.key] = value;
    }
    const pages = device.definition.pages;
    if (pages.length === 1 && question.type !== "multi") {
      // One screen (quick-rating): done at once unless the answer opens a follow-up.
      const followUps = pages[0].questions.map(questionOf).filter((q) => q && q.key !== question.key && q.show_if && visible(q));
      if (followUps.length === 0) { complete(); return; }
    }
    render();
    armIdle();
  }

  function cleanAnswers() {
    const result = {};
    for (const question of device.definition.questions) {
      if (!visible(question)) continue;
      const value = citizen.answers[question.key];
      if (value === undefined || value === null) continue;
      if (question.type === "text") {
        const text = String(value).trim();
        if (text) result[question.key] = text;
      } else if (question.type === "multi") {
        if (value.length) result[question.key] = value;
      } else {
        result[question.key] = value;
      }
    }
    return result;
  }

  async function complete() {
    if (!citizen || citizen.done) return; // double tap: only the first one counts
    const answers = cleanAnswers();
    if (Object.keys(answers).length === 0) { go(0); return; }
    citizen.done = true;
    clearTimers();
    const definition = device.definition;
    const config = device.config;
    const payload = {
      id: uuid4(),
      questionnaire: definition.key,
      version: definition.version,
      unit: config.unit.code,
      counter: config.counter.code,
      channel: "kiosk",
      locale: citizen.locale,
      submitted_at: new Date().toISOString(), // when it was given, not when it arrives
      answers,
    };
    const locale = citizen.locale;
    screenEl().replaceChildren(); // the answers leave the screen at once
    try {
      await idbPut("outbox", { id: payload.id, payload, queued_at: payload.submitted_at });
    } catch (error) {
      console.error("could not queue the response", error);
    }
    showThanks(locale);
    updateQueue();
    deliver(true);
  }

  function showThanks(locale) {
    const t = UI[locale];
    document.getElementById("k-progress").hidden = true;
    screenEl().replaceChildren(el("div", { class: "k-thanks", role: "status" },
      el("h1", { text: t.thanks }), el("p", { text: t.thanksMore })));
    setState("thanks");
    clearTimeout(thanksTimer);
    thanksTimer = setTimeout(newCitizen, (device.config.thanks_seconds || 5) * 1000);
  }

  function switchLanguage() {
    if (!citizen || citizen.done) return;
    citizen.locale = citizen.locale === "vi" ? "en" : "vi";
    render();
    armIdle();
  }

  // --- delivery: the durable queue, retried with backoff ------------------------------------------

  let delivering = false;
  let backoff = 1000;
  let retryTimer = null;

  async function updateQueue() {
    try {
      const [queued, rejected] = await Promise.all([idbCount("outbox"), idbCount("rejected")]);
      body.dataset.queue = String(queued);
      body.dataset.rejected = String(rejected);
      return queued + rejected;
    } catch (error) {
      return Number(body.dataset.queue || 0);
    }
  }

  function scheduleRetry(retryAfter) {
    clearTimeout(retryTimer);
    const wait = retryAfter ? Math.max(Number(retryAfter) * 1000, backoff) : backoff;
    retryTimer = setTimeout(() => deliver(false), wait * (0.75 + Math.random() / 2));
    backoff = Math.min(backoff * 2, 60000);
  }

  function authorised(init) {
    return {
      ...init,
      credentials: "omit", // no cookie: the credential is the header, and only the header
      cache: "no-store",
      headers: { "Content-Type": "application/json", Authorization: `Kiosk ${device.credential}`, ...(init.headers || {}) },
    };
  }

  async function deliver(fresh) {
    if (fresh) backoff = 1000;
    if (delivering || device.revoked || !device.credential) return;
    delivering = true;
    let delivered = 0;
    try {
      const items = await idbAll("outbox");
      items.sort((a, b) => (a.queued_at < b.queued_at ? -1 : 1));
      for (const item of items) {
        let response;
        try {
          response = await fetch("/api/v1/responses", authorised({ method: "POST", body: JSON.stringify(item.payload) }));
        } catch (error) {
          scheduleRetry();
          return;
        }
        if (response.status === 200 || response.status === 201) {
          await idbDelete("outbox", item.id);
          delivered += 1;
          backoff = 1000;
          continue;
        }
        if (response.status === 401) {
          const answer = await response.json().catch(() => ({}));
          revoked(answer.error);
          return;
        }
        if (response.status === 429 || response.status === 408 || response.status >= 500) {
          scheduleRetry(response.headers.get("Retry-After"));
          return;
        }
        // The server will never take this one as it is: set it aside, never discard it.
        const problem = await response.text().catch(() => "");
        await store("rejected", "readwrite", (s) => s.put({ ...item, status: response.status, problem: problem.slice(0, 2000) }));
        await idbDelete("outbox", item.id);
      }
    } catch (error) {
      console.error("delivery failed", error);
      scheduleRetry();
    } finally {
      delivering = false;
      await updateQueue();
      if (delivered) sendHeartbeat();
    }
  }

  function revoked() {
    device.revoked = true;
    clearTimeout(retryTimer);
    if (!started()) newCitizen();
    else device.pending = device.pending || {}; // finish nothing new: reset shows the notice
  }

  // --- heartbeat and configuration ----------------------------------------------------------------

  async function sendHeartbeat() {
    if (!device.credential) return;
    clearTimeout(heartbeatTimer);
    const every = ((device.config && device.config.heartbeat_seconds) || 60) * 1000;
    heartbeatTimer = setTimeout(sendHeartbeat, every);
    const queueLength = await updateQueue();
    let response;
    try {
      response = await fetch("/api/v1/kiosk/heartbeat", authorised({
        method: "POST", body: JSON.stringify({ queue_length: queueLength, app_version: APP_VERSION }),
      }));
    } catch (error) {
      return; // offline: keep running on the cached configuration
    }
    if (response.status === 401) { revoked(); return; }
    if (response.status !== 200) return;
    const config = await response.json();
    let definition = device.pending && device.pending.definition ? device.pending.definition : device.definition;
    if (!definition || definition.key !== config.questionnaire.key || definition.version !== config.questionnaire.version) {
      try {
        const answer = await fetch(`/api/v1/questionnaires/${encodeURIComponent(config.questionnaire.key)}`, { credentials: "omit", cache: "no-store" });
        if (answer.status !== 200) return;
        definition = (await answer.json()).definition;
      } catch (error) {
        return;
      }
    }
    await idbPut("device", config, "config");
    await idbPut("device", definition, "definition");
    const wasRevoked = device.revoked;
    device.revoked = false;
    if (!device.config || !device.definition || wasRevoked || body.dataset.state === "waiting") {
      device.config = config;
      device.definition = definition;
      newCitizen();
    } else if (started()) {
      device.pending = { config, definition }; // never change the screen under a citizen
    } else {
      device.config = config;
      device.definition = definition;
      if (citizen && !citizen.done) render();
    }
  }

  async function screenPage() {
    registerServiceWorker();
    // Back has nowhere to go: this page replaces its own entry, and a guard entry swallows Back.
    history.replaceState(null, "", location.pathname);
    history.pushState(null, "", location.pathname);
    window.addEventListener("popstate", () => history.pushState(null, "", location.pathname));
    document.addEventListener("contextmenu", (event) => event.preventDefault());
    document.addEventListener("dragstart", (event) => event.preventDefault());
    for (const type of ["pointerdown", "keydown", "touchstart"]) {
      document.addEventListener(type, () => { if (citizen && !citizen.done) armIdle(); }, { passive: true });
    }
    document.getElementById("k-lang").addEventListener("click", switchLanguage);
    window.addEventListener("online", () => { deliver(true); sendHeartbeat(); });

    try {
      device.credential = await idbGet("device", "credential");
      device.config = (await idbGet("device", "config")) || null;
      device.definition = (await idbGet("device", "definition")) || null;
    } catch (error) {
      console.error("storage unavailable", error);
    }
    if (!device.credential) {
      showMessage(`${UI.vi.notEnrolled} / ${UI.en.notEnrolled}`, true);
      setState("unenrolled");
      return;
    }
    if (device.config && device.definition) newCitizen();
    else showMessage(`${UI.vi.loading} / ${UI.en.loading}`);
    await updateQueue();
    await sendHeartbeat();
    if (!device.config || !device.definition) newCitizen();
    deliver(true);
  }

  if (body.dataset.page === "enrol") enrolPage();
  else if (body.dataset.page === "screen") screenPage();
})();
