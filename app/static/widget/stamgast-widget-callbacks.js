/* Stamgast widget: the agent's callback lists ("my callbacks", "team callbacks").
 *
 * A bar of two toggles with counts above the call cards; a list opens under it only when
 * the agent asks, so the cards are never pushed around unasked. Lists come from
 * GET /v1/callbacks (open ones, overdue first, then by due time: the oldest overdue on
 * top); "Done" is PATCH /v1/callbacks/{id} {status: "done"}, as on the card; "No answer"
 * records an attempt (POST /v1/callbacks/{id}/attempts {outcome: "no_answer"}) and keeps it
 * open. A `callback.overdue` frame on the stream (the server escalates each overdue request
 * once, to the team of its line) shows a warning here and reloads the lists.
 * Text always goes in through textContent, never as HTML. */
(function () {
  "use strict";
  const ns = (globalThis.Stamgast = globalThis.Stamgast || {});

  const LIMIT = 100; // enough for a shift; more shows as "100+"
  const TABS = ["mine", "team"];

  /** The links that call a number back: tel: always, sip: too for an internal extension
   * (stored as the bare extension, not E.164) or a SIP URI. */
  function callLinks(number) {
    if (!number) return [];
    const value = String(number).trim();
    if (/^sips?:/i.test(value)) return [["sip", value]];
    const links = [["tel", `tel:${value.replace(/[^0-9+*#]/g, "")}`]];
    if (!value.startsWith("+")) links.push(["sip", `sip:${value}`]);
    return links;
  }

  class CallbackLists {
    /** api(method, path, body) → data; view: the widget's {t, when}; me() → GET /v1/me or null;
     * emit(name, detail) for stamgast:action / stamgast:error. */
    constructor({ api, view, me, emit }) {
      this._api = api;
      this._view = view;
      this._me = me;
      this._emit = emit;
      this._lists = { mine: null, team: null }; // null: not loaded yet
      this._open = null; // the tab whose list shows, or null
      this._busy = new Set(); // callback ids being closed
      this._message = null;
      this._loading = null;
      this._again = false;
      this.node = ns.h("section", { class: "callback-lists", "data-testid": "callback-lists" });
      this.render();
    }

    /** Load both lists again; calls while a load is under way are folded into one more. */
    refresh() {
      if (this._loading) {
        this._again = true;
        return this._loading;
      }
      this._loading = this._load().finally(() => {
        this._loading = null;
        if (this._again) {
          this._again = false;
          this.refresh();
        }
      });
      return this._loading;
    }

    /** Forget the lists (another agent or server). */
    clear() {
      this._lists = { mine: null, team: null };
      this._open = null;
      this._message = null;
      this.render();
    }

    async _load() {
      const me = this._me();
      if (!me) return;
      const query = (extra) => new URLSearchParams({ status: "open", limit: String(LIMIT), ...extra });
      try {
        const [mine, team] = await Promise.all([
          this._api("GET", `/v1/callbacks?${query({ assignee_agent_id: String(me.agent_id) })}`),
          this._api("GET", `/v1/callbacks?${query({})}`),
        ]);
        if (this._me() !== me) return; // signed in as someone else meanwhile
        this._lists = { mine: Array.isArray(mine) ? mine : [], team: Array.isArray(team) ? team : [] };
        if (this._message && this._message.kind === "error") this._message = null;
      } catch (error) {
        this._message = { kind: "error", text: error.message };
        this._emit("stamgast:error", { action: "callbacks-load", callId: null, message: error.message, status: error.status, code: error.code });
      }
      this.render();
    }

    _toggle(tab) {
      this._open = this._open === tab ? null : tab;
      this.render();
    }

    async _done(callback) {
      if (this._busy.has(callback.id)) return;
      this._busy.add(callback.id);
      this._message = null;
      this.render();
      try {
        await this._api("PATCH", `/v1/callbacks/${encodeURIComponent(callback.id)}`, { status: "done" });
        for (const tab of TABS) {
          if (this._lists[tab]) this._lists[tab] = this._lists[tab].filter((cb) => cb.id !== callback.id);
        }
        this._message = { kind: "ok", text: this._view.t("callback_done_ok") };
        this._emit("stamgast:action", { action: "callback-done", callId: callback.call_id ?? null, callbackId: callback.id });
      } catch (error) {
        this._message = { kind: "error", text: error.message };
        this._emit("stamgast:error", {
          action: "callback-done", callId: callback.call_id ?? null, message: error.message, status: error.status, code: error.code,
        });
      } finally {
        this._busy.delete(callback.id);
        this.render();
      }
    }

    /** An attempt that did not reach the caller: counted, the request stays open. */
    async _noAnswer(callback) {
      if (this._busy.has(callback.id)) return;
      this._busy.add(callback.id);
      this._message = null;
      this.render();
      try {
        const recorded = await this._api("POST", `/v1/callbacks/${encodeURIComponent(callback.id)}/attempts`,
          { outcome: "no_answer" });
        const now = recorded && recorded.callback;
        for (const tab of TABS) {
          if (this._lists[tab] && now) {
            this._lists[tab] = this._lists[tab].map((cb) => (cb.id === callback.id ? { ...cb, attempts: now.attempts } : cb));
          }
        }
        this._message = { kind: "ok", text: this._view.t("callback_no_answer_ok", { n: now ? now.attempts : "?" }) };
        this._emit("stamgast:action", { action: "callback-attempt", callId: callback.call_id ?? null, callbackId: callback.id, outcome: "no_answer" });
      } catch (error) {
        this._message = { kind: "error", text: error.message };
        this._emit("stamgast:error", {
          action: "callback-attempt", callId: callback.call_id ?? null, message: error.message, status: error.status, code: error.code,
        });
      } finally {
        this._busy.delete(callback.id);
        this.render();
      }
    }

    /** The server escalated an overdue callback to this agent's team: say so, reload. */
    overdue(callback) {
      if (!callback) return;
      const { t } = this._view;
      const who = callback.number_e164 || t("callback_no_number");
      this._message = {
        kind: "warning",
        text: t(callback.line_label ? "callback_overdue_notice_line" : "callback_overdue_notice",
          { reason: callback.reason, who, line: callback.line_label }),
      };
      this.render();
      this.refresh();
    }

    _count(tab) {
      const list = this._lists[tab];
      if (!list) return "…";
      return list.length >= LIMIT ? `${LIMIT}+` : String(list.length);
    }

    render() {
      const { h } = ns;
      const { t } = this._view;
      const toggles = TABS.map((tab) => {
        const overdue = (this._lists[tab] || []).some((cb) => cb.overdue);
        return h("button", {
          type: "button", class: `tab${this._open === tab ? " active" : ""}${overdue ? " has-overdue" : ""}`,
          "data-testid": `callbacks-tab-${tab}`, "data-count": this._lists[tab] ? this._lists[tab].length : null,
          "aria-pressed": this._open === tab ? "true" : "false", onclick: () => this._toggle(tab),
        }, t(`callbacks_tab_${tab}`, { n: this._count(tab) }));
      });
      const parts = [h("div", { class: "tabs" }, h("span", { class: "tabs-title" }, t("callbacks_title")), toggles)];
      if (this._message) {
        parts.push(h("p", { class: `message ${this._message.kind}`, "data-testid": "callbacks-message", role: "status" },
          this._message.text));
      }
      if (this._open) parts.push(this._renderList(this._open));
      this.node.replaceChildren(...parts);
    }

    _renderList(tab) {
      const { h } = ns;
      const { t, when } = this._view;
      const list = this._lists[tab];
      if (!list) return h("p", { class: "muted", "data-testid": "callbacks-empty" }, t("callbacks_loading"));
      if (list.length === 0) return h("p", { class: "muted", "data-testid": "callbacks-empty" }, t(`callbacks_none_${tab}`));
      return h("ul", { class: "plain", "data-testid": `callbacks-list-${tab}` }, list.map((cb) => {
        const busy = this._busy.has(cb.id);
        const links = callLinks(cb.number_e164).map(([kind, href]) =>
          h("a", { class: `call-back ${kind}`, href, "data-testid": `callback-call-${kind}` },
            t(kind === "tel" ? "callback_call" : "callback_call_sip")));
        return h("li", {
          class: `callback${cb.overdue ? " overdue" : ""}`, "data-testid": "listed-callback", "data-callback-id": cb.id,
        },
        h("div", { class: "grow" },
          h("p", { class: "callback-reason" }, cb.reason),
          h("p", { class: "meta", "data-testid": "callback-number" }, cb.number_e164 || t("callback_no_number")),
          h("p", { class: "meta" }, [
            cb.due_by ? t(cb.overdue ? "callback_overdue" : "callback_due", { when: when(cb.due_by) })
              : t("callback_requested", { when: when(cb.requested_at) }),
            cb.missed_calls > 1 ? t("callback_missed_calls", { n: cb.missed_calls }) : null,
            cb.attempts ? t("callback_attempts", { n: cb.attempts }) : null,
            tab === "team" && cb.assignee_agent_id == null ? t("callback_unassigned") : null,
          ].filter(Boolean).join(" · "))),
        h("div", { class: "actions" }, links,
          h("button", { type: "button", class: "small", "data-testid": "listed-callback-no-answer", disabled: busy,
            onclick: () => this._noAnswer(cb) }, t("callback_no_answer")),
          h("button", { type: "button", class: "small", "data-testid": "listed-callback-done", disabled: busy,
            onclick: () => this._done(cb) }, t("callback_done"))));
      }));
    }
  }

  ns.CallbackLists = CallbackLists;
  ns.callLinks = callLinks;
})();
