/* <stamgast-widget>: the caller's card on the agent's screen, before they say hello.
 *
 *   <script src="https://stamgast.example/widget/stamgast-widget.js"></script>
 *   <stamgast-widget token="sga_…" lang="nl"></stamgast-widget>
 *
 * Attributes (each also a property): server (default: where this script came from),
 * token (the agent token), lang ("nl" | "en"; default from navigator.language),
 * transport ("ws" | "sse"; default ws, falling back to SSE when WebSocket will not open).
 * Events (bubbling, composed): stamgast:state {state, transport}, stamgast:pop {seq, pop},
 * stamgast:action {action, callId}, stamgast:error {action, callId, message, status, code}.
 *
 * This file loads its siblings (strings, styles, stream, card) from next to itself, then
 * defines the element; `Stamgast.ready` resolves once it is defined. Plain script, no build.
 */
(function () {
  "use strict";
  const ns = (globalThis.Stamgast = globalThis.Stamgast || {});
  if (ns.ready) return; // included twice: the first one wins

  const script = document.currentScript;
  const scriptUrl = new URL(script && script.src ? script.src : "stamgast-widget.js", document.baseURI);
  const PARTS = [
    ["stamgast-widget-i18n.js", () => ns.strings],
    ["stamgast-widget-styles.js", () => ns.styles],
    ["stamgast-widget-stream.js", () => ns.PopStream],
    ["stamgast-widget-card.js", () => ns.renderCallCard],
    ["stamgast-widget-callbacks.js", () => ns.CallbackLists],
    ["stamgast-widget-originate.js", () => ns.CallbackLists && ns.CallbackLists.prototype._callBack],
  ];

  function load(name) {
    return new Promise((resolve, reject) => {
      const part = document.createElement("script");
      const url = new URL(name, scriptUrl);
      url.search = scriptUrl.search; // a cache-busting ?v= applies to the siblings too
      part.src = url.href;
      part.async = false;
      part.onload = resolve;
      part.onerror = () => reject(new Error(`Stamgast widget: could not load ${url.href}`));
      document.head.append(part);
    });
  }

  const FINISHED = ["ended", "missed", "voicemail"];
  // Countries the server (phonenumbers' geocoder) names otherwise than the browser (CLDR).
  const LEGACY_COUNTRY_NAMES = {
    TR: "Turkey", CZ: "Czech Republic", MK: "Macedonia", SZ: "Swaziland", MM: "Myanmar",
    VA: "Vatican", CD: "The Democratic Republic Of Congo", CG: "Congo",
  };
  /** "St. Kitts & Nevis" and "Saint Kitts And Nevis" compare equal. */
  function comparable(name) {
    return String(name || "").normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
      .replace(/&/g, "and").replace(/\bst\./g, "saint").replace(/[^a-z]/g, "");
  }
  const STATE_RANK = { ringing: 0, answered: 1, ended: 2, missed: 2, voicemail: 2 };
  const CLOSE_COLLEAGUE_MS = 4000;
  const CLOSE_SAVED_MS = 1500;
  const MAX_CARDS = 20;
  const REMEMBERED_CLOSED = 500;

  class ApiError extends Error {
    constructor(message, status, code) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  class StamgastWidget extends HTMLElement {
    static get observedAttributes() {
      return ["server", "token", "lang", "transport"];
    }

    constructor() {
      super();
      this._root = this.attachShadow({ mode: "open" });
      this._calls = new Map(); // call id → entry {call, card, drafts, busy, message, ...}
      this._closed = new Set(); // call ids whose card was closed: later pops must not reopen it
      this._me = null;
      this._stream = null;
      this._state = "offline";
      this._built = false;
      this._dateFormats = new Map();
      this._view = this._makeView();
      this._onFirstClick = () => this._askNotificationPermission();
    }

    // Attributes, reflected as properties.
    get server() {
      // By default the server this script came from, prefix included (a proxy's /stamgast).
      return (this.getAttribute("server") || new URL("../", scriptUrl).href).replace(/\/+$/, "");
    }
    set server(value) {
      this.setAttribute("server", value);
    }
    get token() {
      return (this.getAttribute("token") || "").trim();
    }
    set token(value) {
      this.setAttribute("token", value);
    }
    get lang() {
      const wanted = (this.getAttribute("lang") || navigator.language || "en").toLowerCase();
      const base = wanted.split("-")[0];
      return ns.strings[base] ? base : "en";
    }
    set lang(value) {
      this.setAttribute("lang", value);
    }
    get transport() {
      return this.getAttribute("transport") === "sse" ? "sse" : "ws";
    }
    set transport(value) {
      this.setAttribute("transport", value);
    }

    /** connecting | connected | reconnecting | offline */
    get state() {
      return this._state;
    }
    /** The signed-in agent as GET /v1/me returned them, or null. */
    get me() {
      return this._me;
    }
    /** The calls on screen: [{call, card}], newest first. */
    get calls() {
      return [...this._calls.values()].reverse().map(({ call, card }) => ({ call, card }));
    }

    connectedCallback() {
      this._build();
      this.addEventListener("click", this._onFirstClick, { once: true });
      this.connect();
    }

    disconnectedCallback() {
      this.disconnect();
    }

    attributeChangedCallback(name, oldValue, newValue) {
      if (!this._built || oldValue === newValue) return;
      if (name === "lang") {
        this._relabel();
        return;
      }
      if (name !== "transport") {
        // Another agent or server: the cards on screen are not theirs, nor the callbacks.
        for (const callId of [...this._calls.keys()]) this._close(callId);
        this._callbacks.clear();
      }
      if (this.isConnected) this.connect();
    }

    /** (Re)connect the stream with the current attributes. */
    connect() {
      this.disconnect();
      this._me = null;
      this._renderAgent();
      if (!this.token) {
        this._setBanner("error", "no_token");
        return;
      }
      this._setBanner(null);
      const stream = new ns.PopStream({ server: this.server, token: this.token, transport: this.transport });
      stream.addEventListener("state", (event) => this._setState(event.detail.state, event.detail.transport));
      stream.addEventListener("pop", (event) => this._onPop(event.detail));
      stream.addEventListener("resync", () => this._reloadCalls(stream));
      stream.addEventListener("refused", () => this._setBanner("error", "token_refused"));
      // A token refused over SSE looks like any failed connection: ask the API now and then.
      stream.addEventListener("retry", (event) => {
        if (event.detail.attempt % 4 === 3) this._loadMe(stream);
      });
      this._stream = stream;
      stream.start();
      this._loadMe(stream);
    }

    /** Close the stream (the cards stay). */
    disconnect() {
      if (this._stream) this._stream.stop();
      this._stream = null;
    }

    // ---- building and labelling the shadow DOM -------------------------------------------

    _build() {
      if (this._built) return;
      const { h } = ns;
      if ("adoptedStyleSheets" in this._root && typeof CSSStyleSheet === "function") {
        ns.sheet = ns.sheet || new CSSStyleSheet();
        if (!ns.sheet.cssRules.length) ns.sheet.replaceSync(ns.styles);
        this._root.adoptedStyleSheets = [ns.sheet];
      } else {
        this._root.append(h("style", {}, ns.styles));
      }
      this._pill = h("span", { class: "pill", "data-testid": "connection-state", "data-state": this._state, role: "status" });
      this._agent = h("span", { class: "agent", "data-testid": "agent" });
      this._brand = h("span", { class: "brand" });
      this._bannerText = h("p", {});
      this._bannerClose = h("button", { type: "button", class: "icon", onclick: () => this._setBanner(null) }, "×");
      this._banner = h("div", { class: "banner", "data-testid": "banner", hidden: true, role: "alert" },
        this._bannerText, this._bannerClose);
      this._emptyTitle = h("strong", {});
      this._emptyBody = h("span", {});
      this._empty = h("div", { class: "empty", "data-testid": "empty" }, this._emptyTitle, this._emptyBody);
      this._list = h("div", { class: "calls" }, this._empty);
      this._callbacks = new ns.CallbackLists({
        api: (method, path, body) => this._api(method, path, body),
        view: this._view,
        me: () => this._me,
        emit: (name, detail) => this._emit(name, detail),
      });
      this._root.append(h("div", { class: "topbar" }, this._brand, this._agent, this._pill), this._banner,
        this._callbacks.node, this._list);
      this._built = true;
      this._relabel();
    }

    _relabel() {
      const t = this._view.t;
      this._brand.textContent = t("brand");
      this._emptyTitle.textContent = t("empty_title");
      this._emptyBody.textContent = t("empty_body");
      this._bannerClose.title = t("dismiss");
      this._bannerClose.setAttribute("aria-label", t("dismiss"));
      this._pill.textContent = t(`state_${this._state}`);
      if (this._bannerKey) this._bannerText.textContent = t(this._bannerKey);
      this._renderAgent();
      this._callbacks.render();
      for (const entry of this._calls.values()) this._renderCall(entry);
    }

    _renderAgent() {
      if (!this._built) return;
      const me = this._me;
      this._agent.textContent = me
        ? [me.name, me.extension && this._view.t("agent_ext", { ext: me.extension })].filter(Boolean).join(" · ")
        : "";
    }

    _setState(state, transport) {
      const afterGap = this._state === "reconnecting" || this._state === "offline";
      this._state = state;
      this._pill.dataset.state = state;
      this._pill.dataset.transport = transport || "";
      this._pill.textContent = this._view.t(`state_${state}`);
      // Back after a gap: callbacks may have been promised or kept meanwhile. (The first
      // connection loads them once the agent is known, in _loadMe.)
      if (state === "connected" && afterGap && this._me) this._callbacks.refresh();
      this._emit("stamgast:state", { state, transport });
    }

    _setBanner(kind, key) {
      this._bannerKey = kind ? key : null;
      this._banner.hidden = !kind;
      this._banner.className = `banner ${kind || ""}`;
      this._banner.dataset.kind = key || "";
      this._bannerText.textContent = kind ? this._view.t(key) : "";
    }

    _emit(name, detail) {
      this.dispatchEvent(new CustomEvent(name, { detail, bubbles: true, composed: true }));
    }

    // ---- strings, dates, the view the card renderer sees ----------------------------------

    _makeView() {
      const widget = this;
      const t = (key, params) => {
        const strings = ns.strings[this.lang] || ns.strings.en;
        const text = strings[key] ?? ns.strings.en[key] ?? key;
        return params ? text.replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? "")) : text;
      };
      // The translation of a code (a channel, an outcome), or the code itself if it is new.
      const label = (prefix, code) => {
        const key = `${prefix}${code}`;
        const known = (ns.strings[this.lang] || {})[key] ?? ns.strings.en[key];
        return known === undefined ? String(code) : t(key);
      };
      return {
        t,
        label,
        get me() {
          return widget._me;
        },
        time: (iso) => this._format(iso, { hour: "numeric", minute: "2-digit" }),
        when: (iso) => this._when(iso),
        languageName: (code) => this._languageName(code),
        placeName: (number) => this._placeName(number),
        draft: (entry, key) => entry.drafts[key] ?? "",
        setDraft: (entry, key, value) => this._setDraft(entry, key, value),
        wantsWrapUp: (entry) => entry.call.state === "ended" && !this._byColleague(entry.call),
        act: (name, entry, ...args) => this._act(name, entry, ...args),
      };
    }

    _format(iso, options) {
      const date = new Date(iso);
      if (Number.isNaN(date.getTime())) return String(iso ?? "");
      const key = `${this.lang}|${JSON.stringify(options)}`;
      let format = this._dateFormats.get(key);
      if (!format) {
        format = new Intl.DateTimeFormat(this._locale(), options);
        this._dateFormats.set(key, format);
      }
      return format.format(date);
    }

    _when(iso) {
      const date = new Date(iso);
      if (Number.isNaN(date.getTime())) return String(iso ?? "");
      const t = this._view.t;
      const time = this._format(iso, { hour: "numeric", minute: "2-digit" });
      const today = new Date();
      const day = (moment) => Date.UTC(moment.getFullYear(), moment.getMonth(), moment.getDate());
      const days = Math.round((day(date) - day(today)) / 86400000);
      if (days === 0) return t("today", { time });
      if (days === -1) return t("yesterday", { time });
      if (days === 1) return t("tomorrow", { time });
      const sameYear = date.getFullYear() === today.getFullYear();
      return this._format(iso, sameYear
        ? { day: "numeric", month: "short", hour: "numeric", minute: "2-digit" }
        : { day: "numeric", month: "short", year: "numeric" });
    }

    /** The browser's own locale when it speaks the widget's language (en-GB: 24-hour clock). */
    _locale() {
      const browser = navigator.language || "";
      return browser.toLowerCase().split("-")[0] === this.lang ? browser : this.lang;
    }

    _languageName(code) {
      let name = null;
      try {
        // fallback "none": a language the browser cannot name (Papiamento) gives undefined,
        // not its code ("pap" would show as "Pap").
        name = new Intl.DisplayNames([this.lang], { type: "language", fallback: "none" }).of(code);
      } catch {
        name = null;
      }
      name = name || this._view.label("language_", String(code).toLowerCase());
      return name.charAt(0).toLocaleUpperCase(this.lang) + name.slice(1);
    }

    /** Where a number is from, in the widget's language when it is a whole country. */
    _placeName(number) {
      const place = number && number.region_description;
      if (!place || !number.region) return place || null;
      try {
        const english = new Intl.DisplayNames(["en"], { type: "region" }).of(number.region);
        const sameName = (a, b) => comparable(a) === comparable(b);
        // The server's place names are English; a country's name (a mobile number's place)
        // is shown in the agent's language, a town ("Amersfoort") as it is.
        if (sameName(place, english) || sameName(place, LEGACY_COUNTRY_NAMES[number.region])) {
          return new Intl.DisplayNames([this.lang], { type: "region" }).of(number.region) || place;
        }
      } catch {
        /* an unknown region code: keep the server's name */
      }
      return place;
    }

    // ---- pops ------------------------------------------------------------------------------

    _onPop({ seq, pop }) {
      this._emit("stamgast:pop", { seq, pop });
      // Not a call: the server escalated an overdue callback to this agent's team.
      if (pop && pop.type === "callback.overdue") {
        this._callbacks.overdue(pop.callback);
        return;
      }
      this._show(pop);
      // A missed call (or voicemail) may have promised a callback, or counted another miss.
      if (pop && pop.call && (pop.call.state === "missed" || pop.call.state === "voicemail")) {
        this._callbacks.refresh();
      }
    }

    /**
     * The stream lost pops (the server's log started again, or they expired): show the
     * calls as the server has them now. A card still ringing or answered here that the
     * server no longer lists is over; its end was in the pops that were lost.
     */
    async _reloadCalls(stream) {
      this._setBanner("warning", "resync");
      // What is on screen now; a pop that arrives while the list is on its way is newer
      // than the list and must not be closed for missing from it.
      const shown = new Map([...this._calls].map(([id, entry]) => [id, entry.call]));
      let pops;
      try {
        pops = await this._api("GET", "/v1/me/calls");
      } catch {
        return; // the warning stays: the agent knows calls may be missing
      }
      if (stream !== this._stream || !Array.isArray(pops)) return;
      const listed = new Set(pops.map((pop) => pop && pop.call && pop.call.id));
      for (const entry of [...this._calls.values()]) {
        const unchanged = shown.get(entry.call.id) === entry.call;
        if (unchanged && !FINISHED.includes(entry.call.state) && !listed.has(entry.call.id)) {
          this._close(entry.call.id);
        }
      }
      // Oldest first, so the newest call ends up on top as when its pop arrived.
      for (const pop of [...pops].reverse()) this._show(pop);
      this._setBanner("info", "resync_reloaded");
    }

    _show(pop) {
      const call = pop && pop.call;
      if (!call || call.id == null || this._closed.has(call.id)) return;
      let entry = this._calls.get(call.id);
      const isNew = !entry;
      if (isNew) {
        entry = { call, card: null, drafts: {}, busy: false, message: null, saved: false, closing: false };
        this._calls.set(call.id, entry);
      } else if ((STATE_RANK[call.state] ?? 0) >= (STATE_RANK[entry.call.state] ?? 0)) {
        // The phone system names the caller on some events only (and the server does not
        // store it): a later pop without a name keeps the one shown.
        entry.call = { ...call, caller_name: call.caller_name ?? entry.call.caller_name ?? null };
      }
      // Later pops carry no card (null): keep ours. A card the agent chose (a household
      // member, a contact they just created) is not replaced by the number's own match.
      if (pop.card && !(entry.chosen && pop.card.match !== "known")) entry.card = pop.card;

      if (this._byColleague(entry.call)) this._closeLater(entry, CLOSE_COLLEAGUE_MS);
      if (entry.notification && entry.call.state !== "ringing") entry.notification.close();
      this._renderCall(entry);
      if (isNew) this._trimCards();
      if (isNew && entry.call.state === "ringing") this._notify(entry);
    }

    /** True when the phone system says someone else took the call. */
    _byColleague(call) {
      const me = this._me;
      if (!me || (FINISHED.includes(call.state) && !call.answered_at)) return false;
      if (call.answered_by_agent_id != null) return call.answered_by_agent_id !== me.agent_id;
      const name = (call.answered_by_name || "").toLowerCase();
      if (!name) return false;
      return name !== String(me.name || "").toLowerCase() && name !== String(me.extension || "").toLowerCase();
    }

    _closeLater(entry, ms) {
      if (entry.closeTimer) return;
      entry.closing = true;
      entry.closeTimer = setTimeout(() => this._close(entry.call.id), ms);
    }

    _close(callId) {
      const entry = this._calls.get(callId);
      if (!entry) return;
      clearTimeout(entry.closeTimer);
      if (entry.notification) entry.notification.close();
      if (entry.node) entry.node.remove();
      this._calls.delete(callId);
      this._closed.add(callId);
      if (this._closed.size > REMEMBERED_CLOSED) this._closed.delete(this._closed.values().next().value);
      this._empty.hidden = this._calls.size > 0;
    }

    /** Keep the panel bounded: drop the oldest finished calls beyond MAX_CARDS. */
    _trimCards() {
      for (const entry of [...this._calls.values()]) {
        if (this._calls.size <= MAX_CARDS) break;
        if (FINISHED.includes(entry.call.state)) this._close(entry.call.id);
      }
    }

    _renderCall(entry) {
      if (!this._built || this._calls.get(entry.call.id) !== entry) return;
      const node = ns.renderCallCard(entry, this._view);
      const old = entry.node;
      // Re-rendering must not cost the agent their cursor in a half-typed note.
      const active = this._root.activeElement;
      const focusKey = old && active && old.contains(active) ? active.dataset.testid : null;
      const selection = focusKey && "selectionStart" in active
        ? [active.selectionStart, active.selectionEnd] : null;
      if (old) old.replaceWith(node);
      else this._list.prepend(node);
      entry.node = node;
      this._empty.hidden = true;
      if (focusKey) {
        const again = node.querySelector(`[data-testid="${focusKey}"]`);
        if (again && !again.disabled) {
          again.focus();
          if (selection && again.setSelectionRange) {
            try {
              again.setSelectionRange(...selection);
            } catch {
              /* not a text control (a select): focus is enough */
            }
          }
        }
      }
    }

    _setDraft(entry, key, value) {
      entry.drafts[key] = value;
      // A button that needs this field's text enables in place: re-rendering the card
      // under the agent's fingers would disturb typing (and input methods).
      if (!entry.node) return;
      for (const button of entry.node.querySelectorAll(`[data-needs="${key}"]`)) {
        button.disabled = entry.busy || value.trim() === "";
      }
    }

    // ---- notifications ------------------------------------------------------------------------

    _askNotificationPermission() {
      if ("Notification" in globalThis && Notification.permission === "default") {
        const asked = Notification.requestPermission();
        if (asked && asked.catch) asked.catch(() => {});
      }
    }

    _notify(entry) {
      if (!("Notification" in globalThis) || Notification.permission !== "granted" || !document.hidden) return;
      const { t } = this._view;
      const card = entry.card;
      const title = (card && card.display_name) || entry.call.party_display || entry.call.from_display
        || t("notify_incoming");
      const overdue = card && (card.callbacks || []).some((cb) => cb.overdue);
      const body = [t("notify_incoming"), entry.call.line_label, overdue ? t("notify_overdue") : null]
        .filter(Boolean).join(" · ");
      try {
        const notification = new Notification(title, { body, tag: `stamgast-call-${entry.call.id}`, lang: this.lang });
        notification.onclick = () => {
          globalThis.focus();
          if (entry.node) entry.node.scrollIntoView({ block: "nearest" });
          notification.close();
        };
        entry.notification = notification;
      } catch {
        /* some browsers only notify from a service worker: the card is there regardless */
      }
    }

    // ---- REST ------------------------------------------------------------------------------

    async _api(method, path, body) {
      let response;
      try {
        response = await fetch(this.server + path, {
          method,
          headers: {
            Authorization: `Bearer ${this.token}`,
            Accept: "application/json",
            ...(body === undefined ? {} : { "Content-Type": "application/json" }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          credentials: "omit",
        });
      } catch {
        throw new ApiError(this._view.t("error_network"), 0, "network");
      }
      const text = response.status === 204 ? "" : await response.text();
      let data = null;
      try {
        data = text ? JSON.parse(text) : null;
      } catch {
        data = null;
      }
      if (!response.ok) {
        const message = data && typeof data.message === "string" && data.message
          ? data.message : this._view.t("error_http", { status: response.status });
        throw new ApiError(message, response.status, data && data.code);
      }
      return data;
    }

    async _loadMe(stream) {
      try {
        const me = await this._api("GET", "/v1/me");
        if (stream !== this._stream) return;
        this._me = me;
        this._renderAgent();
        this._callbacks.refresh();
        for (const entry of this._calls.values()) {
          if (this._byColleague(entry.call)) this._closeLater(entry, CLOSE_COLLEAGUE_MS);
          this._renderCall(entry);
        }
      } catch (error) {
        if (stream === this._stream && error.status === 401) {
          stream.stop();
          this._setBanner("error", "token_refused");
        }
      }
    }

    // ---- what the agent does on a card --------------------------------------------------------

    _act(name, entry, ...args) {
      const actions = {
        dismiss: () => this._close(entry.call.id),
        pick: (candidate) => this._run(entry, "pick", null, () => this._pick(entry, candidate)),
        callbackDone: (callback) =>
          this._run(entry, "callback-done", "callback_done_ok", () => this._callbackDone(entry, callback)),
        addNote: () => this._run(entry, "note", "note_saved", () => this._addNote(entry)),
        createContact: () =>
          this._run(entry, "create-contact", "create_saved", () => this._createContact(entry)),
        saveFromSource: (fact) =>
          this._run(entry, "save-from-source", "source_saved", () => this._saveFromSource(entry, fact)),
        wrapUp: () => this._run(entry, "wrap-up", null, () => this._wrapUp(entry)),
      };
      return actions[name](...args);
    }

    async _run(entry, action, okKey, work) {
      if (entry.busy) return;
      entry.busy = true;
      entry.message = null;
      this._renderCall(entry);
      try {
        await work();
        if (okKey) entry.message = { kind: "ok", text: this._view.t(okKey) };
        this._emit("stamgast:action", { action, callId: entry.call.id });
      } catch (error) {
        entry.message = { kind: "error", text: error.message };
        this._emit("stamgast:error", {
          action, callId: entry.call.id, message: error.message, status: error.status, code: error.code,
        });
      } finally {
        entry.busy = false;
        this._renderCall(entry);
      }
    }

    _partyNumber(entry) {
      const call = entry.call;
      return call.party_e164 !== undefined ? call.party_e164 : call.from_e164;
    }

    _direction(entry) {
      return entry.call.direction === "outbound" ? "outbound" : "inbound";
    }

    _callerNumber(entry) {
      return (entry.card && entry.card.number && entry.card.number.e164) || this._partyNumber(entry);
    }

    /** A contact's card as on the ringing card: their number, and our line (its notices). */
    _cardPath(entry, contactId, number) {
      const call = entry.call;
      const line = call.direction === "outbound" ? call.from_e164 : call.to_e164;
      const query = new URLSearchParams();
      if (number) query.set("number", number);
      if (line) query.set("called", line);
      return `/v1/cards/${encodeURIComponent(contactId)}?${query}`;
    }

    async _pick(entry, candidate) {
      const number = this._callerNumber(entry);
      const [, card] = await Promise.all([
        this._api("POST", "/v1/lookup/choice", {
          number, contact_id: candidate.contact_id, agent_id: this._me ? this._me.agent_id : null,
        }),
        this._api("GET", this._cardPath(entry, candidate.contact_id, number)),
      ]);
      entry.card = card;
      entry.chosen = true;
    }

    async _callbackDone(entry, callback) {
      await this._api("PATCH", `/v1/callbacks/${encodeURIComponent(callback.id)}`, { status: "done" });
      entry.card = { ...entry.card, callbacks: entry.card.callbacks.filter((cb) => cb.id !== callback.id) };
    }

    async _addNote(entry) {
      const summary = (entry.drafts.note || "").trim();
      if (!summary) return;
      const body = { contact_id: entry.card.contact_id, channel: "phone", direction: this._direction(entry), summary };
      if (this._me) body.agent_id = this._me.agent_id;
      const saved = await this._api("POST", "/v1/interactions", body);
      entry.drafts.note = "";
      const brief = {
        id: saved && saved.id, occurred_at: (saved && saved.occurred_at) || new Date().toISOString(),
        channel: "phone", direction: this._direction(entry), summary, outcome: null, agent_name: this._me ? this._me.name : null,
      };
      entry.card = { ...entry.card, interactions: [brief, ...(entry.card.interactions || [])] };
    }

    async _createContact(entry) {
      const name = (entry.drafts.createName || "").trim();
      if (!name) return;
      const number = this._partyNumber(entry) || this._callerNumber(entry);
      const body = { display_name: name, numbers: [{ number }] };
      const address = (entry.drafts.createAddress || "").trim();
      if (address) body.form_of_address = address;
      if (entry.drafts.createLanguage) body.language = entry.drafts.createLanguage;
      await this._saveContact(entry, body, number);
    }

    /** A caller found only in a source, saved as ours: its id there kept (namespaced by
     * the source, so two systems' ids never collide), so the next call finds it here. */
    async _saveFromSource(entry, fact) {
      const number = this._partyNumber(entry) || this._callerNumber(entry);
      const body = { display_name: fact.display_name, numbers: [{ number }] };
      if (fact.form_of_address) body.form_of_address = fact.form_of_address;
      if (fact.organisation) body.organisation = fact.organisation;
      if (fact.language && ns.contactLanguages.includes(fact.language)) body.language = fact.language;
      if (fact.external_id) {
        body.external_id = `${fact.source}:${fact.external_id}`.slice(0, 120);
        body.references = { [fact.source.slice(0, 64)]: fact.external_id.slice(0, 200) };
      }
      await this._saveContact(entry, body, number);
    }

    async _saveContact(entry, body, number) {
      const contact = await this._api("POST", "/v1/contacts", body);
      const path = this._cardPath(entry, contact.id, number);
      // The new contact may not be readable the very moment its POST answered (a commit in
      // flight, a replica behind): a few short retries before calling it an error.
      for (let attempt = 1; ; attempt += 1) {
        try {
          entry.card = await this._api("GET", path);
          break;
        } catch (error) {
          if (error.status !== 404 || attempt === 4) throw error;
          await new Promise((resolve) => setTimeout(resolve, 250 * attempt));
        }
      }
      entry.chosen = true;
    }

    async _wrapUp(entry) {
      const outcome = entry.drafts.outcome || ns.outcomes[0];
      const body = { outcome, note: (entry.drafts.wrapNote || "").trim() };
      if (entry.drafts.helped) body.helped = entry.drafts.helped;
      // The wrap-up belongs to the person on the card: the household member the agent
      // picked or the contact they created, not whoever the number matched first.
      const card = entry.card;
      if (card && card.match === "known" && card.contact_id != null) body.contact_id = card.contact_id;
      await this._api("POST", `/v1/calls/${encodeURIComponent(entry.call.id)}/wrap-up`, body);
      entry.saved = true;
      clearTimeout(entry.closeTimer);
      entry.closeTimer = setTimeout(() => this._close(entry.call.id), CLOSE_SAVED_MS);
    }
  }

  ns.StamgastWidget = StamgastWidget;
  ns.ready = Promise.all(PARTS.map(([name, present]) => (present() ? null : load(name))))
    .then(() => {
      if (!customElements.get("stamgast-widget")) customElements.define("stamgast-widget", StamgastWidget);
    })
    .catch((error) => {
      console.error(error);
      throw error;
    });
})();
