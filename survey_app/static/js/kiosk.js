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
      nothingAnswered: "Ông/Bà chưa trả lời câu hỏi nào. Xin chọn ít nhất một câu trả lời trước khi gửi.",
      stillThere: "Ông/Bà còn tiếp tục không?",
      stillThereMore: (s) => `Nếu không, các câu trả lời đã chọn sẽ được gửi sau ${s} giây và màn hình trở về ban đầu cho người tiếp theo.`,
      goOn: "Tiếp tục trả lời", finish: "Gửi và kết thúc",
      notEnrolled: "Máy này chưa được đăng ký làm máy đánh giá. Xin cán bộ quản lý mở liên kết đăng ký trên máy này.",
      revoked: "Máy đánh giá này đã bị thu hồi và cần được đăng ký lại. Xin liên hệ cán bộ quản lý.",
      loading: "Đang tải…", offlineStart: "Chưa tải được cấu hình. Máy sẽ thử lại khi có mạng.",
      progress: "Tiến độ", counter: "Quầy",
    },
    en: {
      switchTo: "Tiếng Việt", switchLang: "vi", switchLabel: "Chuyển sang tiếng Việt",
      officer: "Serving you", step: (i, n) => `Step ${i} of ${n}`, next: "Next", back: "Back",
      send: "Send my rating", thanks: "Thank you!", thanksMore: "Your opinion helps us serve you better.",
      nothingAnswered: "You have not answered any question yet. Please choose at least one answer before sending.",
      stillThere: "Are you still there?",
      stillThereMore: (s) => `If not, the answers you have chosen will be sent in ${s} seconds and the screen will start again for the next person.`,
      goOn: "Continue answering", finish: "Send and finish",
      notEnrolled: "This tablet is not enrolled as a kiosk. Ask a manager to open the enrolment link on it.",
      revoked: "This kiosk has been revoked and needs to be enrolled again. Please contact a manager.",
      loading: "Loading…", offlineStart: "The configuration could not be loaded yet. The tablet will retry when online.",
      progress: "Progress", counter: "Counter",
    },
  };

  // --- the kiosk screen ---------------------------------------------------------------------------

  const screenEl = () => document.getElementById("k-screen");
  const device = { credential: null, config: null, definition: null, pending: null, revoked: false };
  // The citizen at the screen: { id, locale, step, answers, done, shown, turnedAt, kept }. Their
  // answers are kept in the outbox as an open entry from the first one on (`keep`), so a tablet
  // that is left, reloaded or switched off still delivers what was given; the next citizen sees
  // none of it.
  let citizen = null;
  let idleTimer = null;
  let thanksTimer = null;
  let promptTimer = null;
  let heartbeatTimer = null;
  // A tap within this time of the screen changing under the finger (a new page, follow-up
  // questions appearing), and this near to the tap that changed it, is the second half of a
  // double tap: it answers and navigates nothing. A tap elsewhere is a person's next choice.
  const TAP_GUARD_MS = 600;
  const TAP_GUARD_PX = 60;
  let lastPress = { x: -1000, y: -1000 };

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
    body.classList.remove("k-has-nav");
    document.getElementById("k-progress").hidden = true;
    document.getElementById("k-officer").hidden = true;
    document.getElementById("k-lang").hidden = true;
    screenEl().replaceChildren(el("p", { class: alert ? "k-message k-alert" : "k-message", role: alert ? "alert" : "status", text }));
  }

  function clearTimers() {
    clearTimeout(idleTimer);
    clearTimeout(thanksTimer);
    clearInterval(promptTimer);
    idleTimer = thanksTimer = promptTimer = null;
    const prompt = document.getElementById("k-prompt");
    if (prompt) prompt.remove();
  }

  /** Whether `event` (a click) is the second tap of a double tap on a screen that just changed. */
  function tooSoon(event) {
    if (citizen === null || citizen.turnPoint === null) return false;
    if (performance.now() - citizen.turnedAt >= TAP_GUARD_MS) return false;
    if (!event || event.detail === 0) return false; // a key, not a finger
    const turn = citizen.turnPoint;
    return Math.hypot(event.clientX - turn.x, event.clientY - turn.y) < TAP_GUARD_PX;
  }

  function started() {
    return citizen && !citizen.done && (citizen.step > 0 || citizen.locale !== "vi" || Object.keys(citizen.answers).length > 0);
  }

  function armIdle() {
    clearTimeout(idleTimer);
    idleTimer = null;
    if (promptTimer !== null) { // a touch answers "are you still there?"
      clearInterval(promptTimer);
      promptTimer = null;
      const prompt = document.getElementById("k-prompt");
      if (prompt) prompt.remove();
    }
    if (started()) {
      idleTimer = setTimeout(idle, (device.config.idle_seconds || 30) * 1000);
    }
  }

  /** Nobody has touched the screen for the idle time. A long form asks first whether the
   *  citizen is still there; then (or at once, for the one-screen form) what was given is sent
   *  and the screen starts again. */
  function idle() {
    idleTimer = null;
    if (!citizen || citizen.done) return;
    if (device.definition.pages.length === 1 || !Object.keys(cleanAnswers()).length) { leave(); return; }
    const t = texts();
    let left = device.config.prompt_seconds || 20;
    const count = el("p", { id: "k-prompt-count", text: t.stillThereMore(left) });
    const prompt = el("div", { id: "k-prompt", class: "k-prompt", role: "alertdialog", "aria-modal": "true", "aria-labelledby": "k-prompt-title", "aria-describedby": "k-prompt-count" },
      el("div", { class: "k-prompt-box" },
        el("h2", { id: "k-prompt-title", text: t.stillThere }),
        count,
        el("div", { class: "k-prompt-actions" },
          el("button", { type: "button", class: "k-button", id: "k-finish", text: t.finish, onclick: () => { if (citizen) leave(); } }),
          el("button", { type: "button", class: "k-button k-primary", id: "k-go-on", text: t.goOn, onclick: () => armIdle() }))));
    document.body.append(prompt);
    document.getElementById("k-go-on").focus({ preventScroll: true });
    promptTimer = setInterval(() => {
      left -= 1;
      if (left > 0) { count.textContent = texts().stillThereMore(left); return; }
      leave();
    }, 1000);
  }

  /** The citizen left: what they gave is sent as it is (a long form unfinished is marked
   *  incomplete), and the screen starts again for the next citizen. */
  async function leave() {
    if (!citizen || citizen.done) { newCitizen(); return; }
    citizen.done = true;
    clearTimers();
    const kept = keep({ open: false });
    newCitizen();
    await kept;
    updateQueue();
    deliver(true);
  }

  /** Write the citizen's answers to the outbox under their response's id: `open` while they may
   *  still change them (delivery waits), closed when they are final. Nothing given: no entry.
   *  Everything is read before the first await: the screen may already be the next citizen's. */
  async function keep({ open }) {
    const who = citizen;
    const answers = cleanAnswers();
    try {
      if (!Object.keys(answers).length) {
        if (who.kept) await idbDelete("outbox", who.id);
        who.kept = false;
        return;
      }
      if (!open || !who.givenAt) who.givenAt = new Date().toISOString();
      const payload = {
        id: who.id,
        questionnaire: device.definition.key,
        version: device.definition.version,
        unit: device.config.unit.code,
        counter: device.config.counter.code,
        channel: "kiosk",
        locale: who.locale,
        submitted_at: who.givenAt, // when it was given, not when it arrives
        // The one-screen form is whole once its question is answered; a longer form only when
        // the citizen sends it.
        complete: who.finished === true || device.definition.pages.length === 1,
        answers,
      };
      who.kept = true;
      await idbPut("outbox", { id: payload.id, payload, queued_at: payload.submitted_at, open });
    } catch (error) {
      console.error("could not keep the answers", error);
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
    citizen = { id: uuid4(), locale: "vi", step: 0, answers: {}, done: false, shown: "", turnedAt: 0, turnPoint: null, kept: false, givenAt: null };
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
    if (pages.length === 1) { progress.hidden = true; progress.replaceChildren(); return; } // one screen: no steps
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
      onclick: (event) => { event.preventDefault(); if (!tooSoon(event)) onTap(option.value); },
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
    // The bar stays at the bottom of the screen (kiosk.css): Next and Send are always in view.
    const nav = el("div", { class: "k-nav" },
      el("p", { class: "k-nav-note", id: "k-nav-note", role: "alert" }),
      el("div", { class: "k-nav-buttons" },
        citizen.step > 0 ? el("button", { type: "button", class: "k-button", id: "k-back", text: t.back, onclick: (event) => { if (!tooSoon(event)) go(-1); } }) : null,
        needsSend ? el("button", {
          type: "button", class: "k-button k-primary", id: last ? "k-send" : "k-next",
          text: last ? t.send : t.next, onclick: (event) => { if (!tooSoon(event)) (last ? send() : go(1)); },
        }) : null));
    parts.push(nav);
    body.classList.toggle("k-has-nav", needsSend || citizen.step > 0);
    screenEl().replaceChildren(...parts);
    const shown = `${citizen.step}:${questions.map((q) => q.key).join(",")}`;
    if (shown !== citizen.shown) {
      // The screen changed under the finger: a second tap of the same gesture answers nothing.
      if (citizen.shown) {
        citizen.turnedAt = performance.now();
        citizen.turnPoint = { ...lastPress };
      }
      citizen.shown = shown;
    }
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
      if (followUps.length === 0) { send(); return; }
    }
    keep({ open: true }); // given is kept: a citizen who walks away now still counts
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

  /** The citizen sends: their answers, final and complete, go to the outbox and the server. */
  async function send() {
    if (!citizen || citizen.done) return; // double tap: only the first one counts
    if (Object.keys(cleanAnswers()).length === 0) {
      const note = document.getElementById("k-nav-note");
      if (note) note.textContent = texts().nothingAnswered;
      armIdle();
      return;
    }
    citizen.done = true;
    citizen.finished = true;
    clearTimers();
    const locale = citizen.locale;
    screenEl().replaceChildren(); // the answers leave the screen at once
    await keep({ open: false });
    showThanks(locale);
    updateQueue();
    deliver(true);
  }

  function showThanks(locale) {
    const t = UI[locale];
    document.getElementById("k-progress").hidden = true;
    screenEl().replaceChildren(el("div", { class: "k-thanks", role: "status" },
      el("h1", { text: t.thanks }), el("p", { text: t.thanksMore })));
    body.classList.remove("k-has-nav");
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
        if (item.open) continue; // the citizen is still at the screen
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
    // A citizen being thanked, or still answering, sees their screen to its end; the notice for
    // staff comes with the next one (newCitizen).
    if (body.dataset.state === "thanks" || started()) device.pending = device.pending || {};
    else newCitizen();
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
    document.addEventListener("pointerdown", (event) => {
      lastPress = { x: event.clientX, y: event.clientY };
      // A press elsewhere after the screen changed is a new gesture: the next tap where the
      // screen changed is meant, not the second half of a double tap.
      const turn = citizen && citizen.turnPoint;
      if (turn && Math.hypot(lastPress.x - turn.x, lastPress.y - turn.y) >= TAP_GUARD_PX) citizen.turnPoint = null;
    }, { capture: true, passive: true });
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
    // Answers left open when the page last closed (reloaded, switched off) are final now.
    try {
      for (const item of await idbAll("outbox")) {
        if (item.open) await idbPut("outbox", { ...item, open: false });
      }
    } catch (error) {
      console.error("storage unavailable", error);
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
