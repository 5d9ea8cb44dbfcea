/* Stamgast widget: one call's card as DOM. Pure rendering: everything it shows comes from
 * the call entry, everything it does goes through view.act(name, ...args).
 * Text always goes in through textContent, never as HTML. */
(function () {
  "use strict";
  const ns = (globalThis.Stamgast = globalThis.Stamgast || {});

  /** h("div", {class: "x", "data-testid": "y", onclick: f}, child, "text", [more]) */
  function h(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else if (name === "class") node.className = value;
      else if (name === "value") node.value = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false || child === "") continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function section(title, testid, ...body) {
    return h("section", { class: `section ${testid || ""}` }, h("h3", {}, title), ...body);
  }

  function dot(...parts) {
    return parts.filter((part) => part !== null && part !== undefined && part !== "").join(" · ");
  }

  const HIGHLIGHTED_FLAGS = ["attention", "vip"];

  function renderBadges(card, view) {
    const { t } = view;
    const match = card ? card.match : "unknown";
    const badges = [
      h("span", { class: `badge match-${match}`, "data-testid": "match-kind", "data-kind": match },
        t(`match_${match}`)),
    ];
    for (const flag of card ? card.flags || [] : []) {
      const known = HIGHLIGHTED_FLAGS.includes(flag);
      badges.push(h("span", { class: `badge flag flag-${known ? flag : "other"}`, "data-testid": "flag" },
        known ? t(`flag_${flag}`) : flag));
    }
    if (card && card.language) {
      badges.push(h("span", { class: "badge lang", title: card.language },
        view.languageName(card.language)));
    }
    return h("div", { class: "badges" }, badges);
  }

  // The other party: who rang us, or whom we rang (older servers only send from_*).
  function partyNumber(call) {
    return call.party_e164 !== undefined ? call.party_e164 : call.from_e164;
  }

  function partyDisplay(call) {
    const shown = call.party_display !== undefined ? call.party_display : call.from_display;
    return shown || partyNumber(call);
  }

  function numberLine(entry, view) {
    const { t } = view;
    const number = entry.card && entry.card.number;
    const shown = (number && number.display) || partyDisplay(entry.call);
    const kind = number && number.kind && !["withheld"].includes(number.kind)
      ? view.label("number_kind_", number.kind) : null;
    return dot(shown, view.placeName(number), kind);
  }

  function renderCaller(entry, view) {
    const { t } = view;
    const card = entry.card;
    const match = card ? card.match : "unknown";
    let name = card && card.display_name;
    // Nobody of ours: the name the phone system gave (caller ID), marked as not ours.
    const given = !name && match === "unknown" ? entry.call.caller_name : null;
    if (!name) {
      name = match === "withheld" ? t("withheld_name")
        : given || partyDisplay(entry.call) || t("unknown_name");
    }
    const rows = [renderBadges(card, view), h("h2", { class: "name", "data-testid": "caller-name" }, name)];
    if (given) rows.push(h("p", { class: "meta", "data-testid": "caller-name-source" }, t("name_from_phone_system")));
    const named = sourceOf(card, "display_name");
    if (named) rows.push(h("p", { class: "meta", "data-testid": "caller-name-source" }, sourceLink(named, view)));
    if (card && card.form_of_address) {
      rows.push(h("p", { class: "address" },
        h("span", { class: "label" }, `${t("address_as")} `),
        h("strong", { "data-testid": "form-of-address" }, card.form_of_address)));
    }
    if (match !== "withheld") rows.push(h("p", { class: "meta", "data-testid": "caller-number" }, numberLine(entry, view)));
    if (card && (card.organisation || card.household)) {
      rows.push(h("p", { class: "meta" }, dot(card.organisation, card.household)));
    }
    return h("header", { class: "caller" }, rows);
  }

  /** The source record that filled `field` on the card, if one did. */
  function sourceOf(card, field) {
    return ((card && card.sources) || []).find((fact) => (fact.fields || []).includes(field)) || null;
  }

  // "from CRM", a link to the record when the source gave one (http(s) only: the server
  // drops any other scheme, and a link opens in a new tab without our window).
  function sourceLink(fact, view) {
    const label = view.t("from_source", { source: fact.source });
    if (!fact.deep_link || !/^https?:\/\//i.test(fact.deep_link)) {
      return h("span", { class: "source", "data-testid": "source-name" }, label);
    }
    return h("a", { class: "source", "data-testid": "source-link", href: fact.deep_link, target: "_blank",
      rel: "noopener noreferrer", title: view.t("open_in_source", { source: fact.source }) }, label);
  }

  function renderSources(entry, view) {
    const { t } = view;
    const facts = (entry.card && entry.card.sources) || [];
    if (!facts.length) return null;
    const saveable = entry.card.match === "unknown" && !entry.saved && partyNumber(entry.call);
    return section(t("section_sources"), "sources", h("ul", { class: "plain" }, facts.map((fact) =>
      h("li", { class: "source-fact", "data-testid": "source-fact", "data-source": fact.source },
        h("p", {}, h("strong", {}, fact.display_name || "—"), " ", sourceLink(fact, view)),
        h("p", { class: "meta" }, dot(fact.organisation, fact.details && fact.details.title,
          fact.last_activity && t("last_contact", { when: fact.last_activity }))),
        saveable && fact.display_name ? h("button", { type: "button", class: "small", "data-testid": "source-save",
          disabled: entry.busy, onclick: () => view.act("saveFromSource", entry, fact) }, t("source_save")) : null))));
  }

  function renderStatus(entry, view) {
    const { t, me } = view;
    const call = entry.call;
    let text;
    let testid = "call-status";
    if (call.state === "ringing") {
      text = dot(t("call_ringing"), call.line_label && t("call_on_line", { line: call.line_label }),
        call.ringing_extension && t("call_ext", { ext: call.ringing_extension }),
        call.started_at && t("call_since", { time: view.time(call.started_at) }));
    } else if (call.state === "answered") {
      testid = "answered-by";
      text = answeredText(call, me, t);
    } else if (call.state === "ended") {
      const minutes = call.answered_at && call.ended_at
        ? Math.max(1, Math.round((Date.parse(call.ended_at) - Date.parse(call.answered_at)) / 60000))
        : null;
      text = dot(t("call_ended"), minutes && t("call_minutes", { n: minutes }),
        (call.answered_by_agent_id || call.answered_by_name) && answeredText(call, me, t));
    } else {
      // Only a request the server opened (or counted on) is promised to the agent.
      const callback = call.callback_request_id != null;
      const withheld = entry.card && entry.card.match === "withheld";
      if (call.state === "voicemail") text = t(callback ? "voicemail" : "voicemail_no_callback");
      else if (callback) text = t("missed");
      else text = t(withheld ? "missed_withheld" : "missed_no_callback");
    }
    return h("div", { class: "status" },
      h("span", { class: "pulse", "aria-hidden": "true" }),
      h("span", { class: "status-text", "data-testid": testid, role: "status" }, text),
      h("button", { class: "icon", type: "button", title: t("close"), "aria-label": t("close"),
        "data-testid": "call-close", onclick: () => view.act("dismiss", entry) }, "×"));
  }

  function answeredText(call, me, t) {
    if (me && call.answered_by_agent_id != null && call.answered_by_agent_id === me.agent_id) {
      return t("answered_by_you");
    }
    return call.answered_by_name ? t("answered_by", { name: call.answered_by_name }) : t("answered");
  }

  function renderMessage(entry) {
    if (!entry.message) return null;
    return h("p", { class: `message ${entry.message.kind}`, role: entry.message.kind === "error" ? "alert" : "status",
      "data-testid": entry.message.kind === "error" ? "error" : "message" }, entry.message.text);
  }

  function renderCandidates(entry, view) {
    const { t } = view;
    const list = entry.card.candidates.map((candidate) => h("li", {},
      h("button", {
        type: "button", class: "candidate", "data-testid": "candidate",
        "data-contact-id": candidate.contact_id, disabled: entry.busy,
        onclick: () => view.act("pick", entry, candidate),
      },
      h("span", { class: "candidate-name" }, candidate.display_name),
      h("span", { class: "candidate-meta" }, dot(candidate.form_of_address, candidate.household,
        candidate.last_interaction_at && t("last_contact", { when: view.when(candidate.last_interaction_at) }))),
      candidate.chosen_before ? h("span", { class: "badge chosen" }, t("chosen_before")) : null)));
    return section(t("who_is_calling"), "candidates", h("ul", { class: "plain" }, list));
  }

  function field(label, control) {
    return h("label", { class: "field" }, h("span", {}, label), control);
  }

  function input(entry, view, key, props) {
    return h(props.multiline ? "textarea" : "input", {
      ...props, multiline: null, value: view.draft(entry, key),
      oninput: (event) => view.setDraft(entry, key, event.target.value),
    });
  }

  function renderCreateContact(entry, view) {
    const { t } = view;
    const languages = h("select", { "data-testid": "create-contact-language",
      onchange: (event) => view.setDraft(entry, "createLanguage", event.target.value) },
    h("option", { value: "" }, t("create_language_none")),
    ns.contactLanguages.map((code) => h("option", { value: code }, view.languageName(code))));
    languages.value = view.draft(entry, "createLanguage");
    const name = view.draft(entry, "createName").trim();
    return section(t("create_title"), "create-contact", h("form", { class: "form", onsubmit: (event) => {
      event.preventDefault();
      view.act("createContact", entry);
    } },
    field(t("create_name"), input(entry, view, "createName", { "data-testid": "create-contact-name",
      required: true, maxlength: 200, autocomplete: "off" })),
    h("div", { class: "row" },
      field(t("create_address"), input(entry, view, "createAddress", {
        "data-testid": "create-contact-address", maxlength: 200, autocomplete: "off",
        placeholder: t("create_address_placeholder") })),
      field(t("create_language"), languages)),
    h("button", { type: "submit", class: "primary", "data-testid": "create-contact-save",
      "data-needs": "createName", disabled: entry.busy || !name }, t("create_save"))));
  }

  function renderCallbacks(card, entry, view) {
    const { t } = view;
    if (!card.callbacks || card.callbacks.length === 0) return null;
    return section(t("section_callbacks"), "callbacks", h("ul", { class: "plain" }, card.callbacks.map((cb) =>
      h("li", { class: `callback${cb.overdue ? " overdue" : ""}`, "data-testid": "callback", "data-callback-id": cb.id },
        h("div", { class: "grow" },
          h("p", { class: "callback-reason" }, cb.reason),
          h("p", { class: "meta" }, dot(
            cb.due_by ? t(cb.overdue ? "callback_overdue" : "callback_due", { when: view.when(cb.due_by) })
              : t("callback_requested", { when: view.when(cb.requested_at) }),
            cb.attempts ? t("callback_attempts", { n: cb.attempts }) : null))),
        h("button", { type: "button", class: "small", "data-testid": "callback-done", disabled: entry.busy,
          onclick: () => view.act("callbackDone", entry, cb) }, t("callback_done"))))));
  }

  function renderProfile(card, view) {
    const { t } = view;
    const profile = card.service_profile;
    if (!profile) return null;
    const rows = [];
    const add = (key, value) => {
      if (value === null || value === undefined || value === "" || (Array.isArray(value) && !value.length)) return;
      rows.push(h("dt", {}, t(`profile_${key}`)), h("dd", {}, Array.isArray(value) ? value.join(", ") : value));
    };
    add("preferred_times", profile.preferred_times);
    add("preferred_channel", profile.preferred_channel && view.label("channel_", profile.preferred_channel));
    add("preferred_place", profile.preferred_place);
    if (profile.language && profile.language !== card.language) add("language", view.languageName(profile.language));
    add("interpreter", profile.interpreter);
    add("accessibility", profile.accessibility);
    add("likes", profile.likes);
    add("dislikes", profile.dislikes);
    for (const [key, value] of Object.entries(profile.extra || {})) {
      // Free keys are the tenant's own; the usual ones have a label in both languages.
      rows.push(h("dt", {}, view.label("profile_extra_", key)),
        h("dd", {}, typeof value === "object" ? JSON.stringify(value) : String(value)));
    }
    const needs = [];
    if (profile.plain_language) needs.push(h("span", { class: "badge need" }, t("profile_plain_language")));
    if (profile.extra_explanation) needs.push(h("span", { class: "badge need" }, t("profile_extra_explanation")));
    if (!rows.length && !needs.length) return null;
    return section(t("section_profile"), "profile",
      needs.length ? h("div", { class: "badges" }, needs) : null,
      rows.length ? h("dl", { class: "facts" }, rows) : null);
  }

  function renderCases(card, view) {
    const { t } = view;
    if (!card.cases || !card.cases.length) return null;
    return section(t("section_cases"), "cases", h("ul", { class: "plain" }, card.cases.map((item) =>
      h("li", { class: "case", "data-testid": "case" },
        h("p", {}, h("strong", {}, item.reference), " ",
          h("span", { class: "case-kind", "data-testid": "case-kind" }, view.label("case_kind_", item.kind)), " ",
          h("span", { class: "badge status", "data-testid": "case-status" }, view.label("case_status_", item.status)),
          item.position != null ? h("span", { class: "meta inline" }, t("case_position", { n: item.position })) : null),
        item.next_step ? h("p", { class: "meta" }, t("case_next", { text: item.next_step })) : null))));
  }

  // What the card left out for this agent's role (card.masked): said, never shown.
  function hiddenNote(view, key) {
    return h("p", { class: "hidden-note meta", "data-testid": `masked-${key}` }, view.t(`masked_${key}`));
  }

  function masks(card, key) {
    return (card.masked || []).includes(key);
  }

  function renderNotices(card, view) {
    const shown = card.notices || [];
    const hidden = masks(card, "notices");
    if (!shown.length && !hidden) return null;
    return section(view.t("section_notices"), "notices", [
      ...shown.map((notice) =>
        h("div", { class: `notice severity-${notice.severity || "info"}`, "data-testid": "notice" },
          h("strong", {}, notice.title), notice.body ? h("p", {}, notice.body) : null)),
      hidden ? hiddenNote(view, "notices") : null,
    ]);
  }

  function renderNotes(card, view) {
    if (card.notes) return section(view.t("section_notes"), "notes", h("p", { class: "pre" }, card.notes));
    return masks(card, "notes") ? section(view.t("section_notes"), "notes", hiddenNote(view, "notes")) : null;
  }

  function renderInteractions(card, view) {
    const { t } = view;
    if (!card.interactions || !card.interactions.length) return null;
    return section(t("section_interactions"), "interactions", h("ul", { class: "timeline" },
      card.interactions.slice(0, 5).map((item) => h("li", { "data-testid": "interaction" },
        h("p", { class: "meta" }, dot(view.when(item.occurred_at),
          `${view.label("channel_", item.channel)} ${view.label("direction_", item.direction)}`,
          item.agent_name && t("by_agent", { name: item.agent_name }))),
        h("p", {}, item.summary,
          item.outcome ? h("span", { class: "badge outcome" }, view.label("outcome_", item.outcome)) : null)))));
  }

  function renderAddNote(entry, view) {
    const { t } = view;
    const text = view.draft(entry, "note").trim();
    return h("form", { class: "form note", onsubmit: (event) => {
      event.preventDefault();
      view.act("addNote", entry);
    } },
    input(entry, view, "note", { multiline: true, rows: 2, "data-testid": "note-input",
      placeholder: t("note_placeholder"), "aria-label": t("note_placeholder"), maxlength: 4000 }),
    h("button", { type: "submit", class: "small", "data-testid": "note-save", "data-needs": "note",
      disabled: entry.busy || !text },
      t("note_save")));
  }

  // "Geholpen?" as three radios: one click, and no choice made means nothing is sent.
  function renderHelped(entry, view) {
    const { t } = view;
    const chosen = view.draft(entry, "helped");
    const name = `helped-${entry.call.id}`;
    return h("fieldset", { class: "field helped", "data-testid": "wrapup-helped" },
      h("legend", {}, t("wrapup_helped")),
      h("div", { class: "choices" }, ns.helpedChoices.map((code) => h("label", { class: "choice" },
        h("input", { type: "radio", name, value: code, checked: chosen === code,
          "data-testid": `wrapup-helped-${code}`,
          onchange: (event) => view.setDraft(entry, "helped", event.target.value) }),
        view.label("helped_", code)))));
  }

  function renderWrapUp(entry, view) {
    const { t } = view;
    if (entry.saved) {
      return h("p", { class: "message ok", "data-testid": "wrapup-saved", role: "status" }, t("wrapup_saved"));
    }
    const outcome = h("select", { "data-testid": "wrapup-outcome",
      onchange: (event) => view.setDraft(entry, "outcome", event.target.value) },
    ns.outcomes.map((code) => h("option", { value: code }, view.label("outcome_", code))));
    outcome.value = view.draft(entry, "outcome") || ns.outcomes[0];
    return h("form", { class: "form wrapup", onsubmit: (event) => {
      event.preventDefault();
      view.act("wrapUp", entry);
    } },
    h("h3", {}, t("wrapup_title")),
    field(t("wrapup_outcome"), outcome),
    renderHelped(entry, view),
    field(t("wrapup_note"), input(entry, view, "wrapNote", { multiline: true, rows: 3,
      "data-testid": "wrapup-note", placeholder: t("wrapup_note_placeholder"), maxlength: 4000 })),
    h("button", { type: "submit", class: "primary", "data-testid": "wrapup-save", disabled: entry.busy },
      t("wrapup_save")));
  }

  /** The card of one call. */
  function renderCallCard(entry, view) {
    const card = entry.card;
    const match = card ? card.match : "unknown";
    const known = card && card.contact_id != null && match === "known";
    const body = [renderMessage(entry)];
    if (view.wantsWrapUp(entry)) body.push(renderWrapUp(entry, view));
    if (card && match === "ambiguous" && card.candidates && card.candidates.length) {
      body.push(renderCandidates(entry, view));
    }
    body.push(renderSources(entry, view));
    // A caller a source knows is saved with one click from its record instead.
    const fromSource = card && (card.sources || []).length > 0;
    if (match === "unknown" && partyNumber(entry.call) && !entry.saved && !fromSource) {
      body.push(renderCreateContact(entry, view));
    }
    if (card) {
      body.push(renderCallbacks(card, entry, view), renderNotices(card, view), renderProfile(card, view),
        renderCases(card, view));
      body.push(renderNotes(card, view));
      body.push(renderInteractions(card, view));
    }
    if (known && !entry.saved) body.push(renderAddNote(entry, view));
    return h("article", {
      class: `call-card state-${entry.call.state} match-${match}${entry.closing ? " closing" : ""}`,
      "data-testid": "call-card", "data-call-id": entry.call.id, "data-state": entry.call.state,
      "aria-busy": entry.busy ? "true" : null,
    },
    renderStatus(entry, view),
    renderCaller(entry, view),
    h("div", { class: "body" }, body));
  }

  ns.h = h;
  ns.renderCallCard = renderCallCard;
})();
