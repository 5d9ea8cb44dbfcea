/* Stamgast widget: "Bel terug" / "Call back" through the phone system, in the callback lists.
 *
 * When GET /v1/originate says the tenant's phone system can call back, each listed callback
 * gets a button next to its tel:/sip: links: POST /v1/callbacks/{id}/call rings the agent's
 * own phone, then the caller, who sees the line they called. Otherwise nothing changes: the
 * links stay the way to call back. Loaded after stamgast-widget-callbacks.js; it adds the
 * button after each render of the lists (a list item is found by data-callback-id, its
 * buttons' place by .actions), so the lists' own file knows nothing of it.
 * Text always goes in through textContent, never as HTML. */
(function () {
  "use strict";
  const ns = (globalThis.Stamgast = globalThis.Stamgast || {});
  const Lists = ns.CallbackLists;
  if (!Lists || Lists.prototype._callBack) return; // included twice: the first one wins

  Object.assign(ns.strings.en, {
    callback_originate: "Call back",
    callback_originate_title: "Your phone rings first; answer it and the caller is called from the line they called.",
    callback_originate_ringing: "Your phone is ringing: answer it to call {number}.",
    callback_call_self: "Dial yourself",
  });
  Object.assign(ns.strings.nl, {
    callback_originate: "Bel terug",
    callback_originate_title: "Uw toestel gaat eerst over; neem op en de beller wordt gebeld vanaf het nummer dat hij belde.",
    callback_originate_ringing: "Uw toestel gaat over: neem op om {number} te bellen.",
    callback_call_self: "Zelf bellen",
  });

  const load = Lists.prototype._load;
  const render = Lists.prototype.render;
  const clear = Lists.prototype.clear;

  /** Whether this agent's tenant can call back; asked once per sign-in. */
  Lists.prototype._load = async function () {
    const me = this._me();
    if (me && this._originate.me !== me) {
      this._originate.me = me;
      try {
        const answer = await this._api("GET", "/v1/originate");
        this._originate.can = Boolean(answer && answer.can_originate);
      } catch {
        this._originate.can = false; // the links still work; the button is only a shortcut
      }
    }
    return load.call(this);
  };

  Lists.prototype.clear = function () {
    this._originate = { me: null, can: false, busy: new Set() };
    return clear.call(this);
  };

  Lists.prototype.render = function () {
    if (!this._originate) this._originate = { me: null, can: false, busy: new Set() };
    render.call(this);
    if (!this._originate.can || !this._open) return;
    const listed = this._lists[this._open] || [];
    const byId = new Map(listed.map((cb) => [String(cb.id), cb]));
    for (const item of this.node.querySelectorAll("[data-callback-id]")) {
      const callback = byId.get(item.getAttribute("data-callback-id"));
      const actions = item.querySelector(".actions");
      if (!callback || !actions || !callback.number_e164) continue;
      // Two "Call back"s side by side would leave the agent guessing: the link says what it does.
      const tel = actions.querySelector('[data-testid="callback-call-tel"]');
      if (tel) {
        tel.textContent = this._view.t("callback_call_self");
        tel.classList.add("secondary");
      }
      actions.prepend(ns.h("button", {
        type: "button", class: "small originate", "data-testid": "callback-originate",
        title: this._view.t("callback_originate_title"), disabled: this._originate.busy.has(callback.id),
        onclick: () => this._callBack(callback),
      }, this._view.t("callback_originate")));
    }
  };

  /** POST /v1/callbacks/{id}/call: the agent's phone rings; the try counts once they record how it went. */
  Lists.prototype._callBack = async function (callback) {
    const busy = this._originate.busy;
    if (busy.has(callback.id)) return;
    busy.add(callback.id);
    this._message = null;
    this.render();
    try {
      const placed = await this._api("POST", `/v1/callbacks/${encodeURIComponent(callback.id)}/call`, {});
      for (const list of Object.values(this._lists)) {
        for (const cb of list || []) if (cb.id === callback.id) cb.attempts = placed.attempts;
      }
      this._message = { kind: "ok", text: this._view.t("callback_originate_ringing", { number: callback.number_e164 }) };
      this._emit("stamgast:action", {
        action: "callback-call", callId: callback.call_id ?? null, callbackId: callback.id, provider: placed.provider,
      });
    } catch (error) {
      if (error.status === 409 && error.code === "cannot_originate") this._originate.can = false;
      this._message = { kind: "error", text: error.message };
      this._emit("stamgast:error", {
        action: "callback-call", callId: callback.call_id ?? null, message: error.message, status: error.status, code: error.code,
      });
    } finally {
      busy.delete(callback.id);
      this.render();
    }
  };
})();
