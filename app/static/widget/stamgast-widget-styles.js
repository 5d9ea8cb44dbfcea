/* Stamgast widget: the element's own CSS (it lives in the shadow root, so the host page's
 * styles cannot reach in and ours cannot leak out). Theme it from outside with the
 * --stamgast-* custom properties on the element. */
(function () {
  "use strict";
  const ns = (globalThis.Stamgast = globalThis.Stamgast || {});

  ns.styles = String.raw`
:host {
  --accent: var(--stamgast-accent, #1f5fd1);
  --text: var(--stamgast-text, #17202b);
  --muted: #5c6675;
  --line: #e2e5ea;
  --surface: #ffffff;
  --canvas: var(--stamgast-background, #f4f5f7);
  --ok: #157347;
  --ok-soft: #e8f5ee;
  --red: #b42318;
  --red-soft: #fdf0ee;
  --amber: #9a5b00;
  --amber-soft: #fff5e0;
  --violet: #5b36b5;
  --violet-soft: #f1ecfc;
  --radius: 10px;
  display: block;
  box-sizing: border-box;
  min-height: 100%;
  background: var(--canvas);
  color: var(--text);
  font: 14px/1.45 var(--stamgast-font, system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif);
  -webkit-font-smoothing: antialiased;
}
*, *::before, *::after { box-sizing: inherit; }
[hidden] { display: none !important; }
h2, h3, p, ul, dl, dd { margin: 0; padding: 0; }

/* Top bar: who is signed in, and whether pops can reach them. */
.topbar {
  position: sticky; top: 0; z-index: 1;
  display: flex; align-items: center; gap: 10px;
  padding: 10px 14px;
  background: var(--surface);
  border-bottom: 1px solid var(--line);
}
.brand { font-weight: 650; letter-spacing: -0.01em; }
.agent { color: var(--muted); font-size: 12.5px; flex: 1; min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.pill {
  display: inline-flex; align-items: center; gap: 6px;
  padding: 3px 10px 3px 8px; border-radius: 999px;
  font-size: 12px; font-weight: 550; white-space: nowrap;
  background: #eef0f3; color: var(--muted);
}
.pill::before { content: ""; width: 7px; height: 7px; border-radius: 50%; background: currentColor; }
.pill[data-state="connected"] { background: var(--ok-soft); color: var(--ok); }
.pill[data-state="connecting"], .pill[data-state="reconnecting"] { background: var(--amber-soft); color: var(--amber); }
.pill[data-state="reconnecting"]::before { animation: blink 1s ease-in-out infinite; }
.pill[data-state="offline"] { background: #eef0f3; color: var(--muted); }

.banner {
  display: flex; gap: 10px; align-items: flex-start;
  margin: 12px 14px 0; padding: 9px 12px; border-radius: 8px;
  background: var(--amber-soft); color: #6b4000; font-size: 13px;
}
.banner.error { background: var(--red-soft); color: var(--red); }
.banner.info { background: var(--ok-soft); color: var(--ok); }
.banner p { flex: 1; }

.calls { display: flex; flex-direction: column; gap: 12px; padding: 12px 14px 20px; }
.empty { padding: 48px 24px; text-align: center; color: var(--muted); }
.empty strong { display: block; color: var(--text); font-size: 15px; margin-bottom: 4px; }

/* A call's card. The left edge tells the call's state at a glance. */
.call-card {
  background: var(--surface);
  border: 1px solid var(--line);
  border-left: 4px solid #aab2bd;
  border-radius: var(--radius);
  box-shadow: 0 1px 2px rgba(16, 24, 40, 0.05);
  overflow: hidden;
  transition: opacity 0.4s ease, transform 0.4s ease;
}
.call-card.state-ringing { border-left-color: var(--accent); box-shadow: 0 2px 10px rgba(31, 95, 209, 0.12); }
.call-card.state-answered { border-left-color: var(--ok); }
.call-card.state-missed, .call-card.state-voicemail { border-left-color: var(--red); }
.call-card.closing { opacity: 0.55; }
.call-card.closing .body { display: none; }

.status {
  display: flex; align-items: center; gap: 8px;
  padding: 7px 8px 7px 14px;
  background: #f8f9fb; border-bottom: 1px solid var(--line);
  font-size: 12.5px; font-weight: 550; color: var(--muted);
}
.status-text { flex: 1; min-width: 0; }
.pulse { width: 8px; height: 8px; border-radius: 50%; background: #aab2bd; flex: none; }
.state-ringing .status { color: var(--accent); background: #f1f5fd; }
.state-ringing .pulse { background: var(--accent); animation: ring 1.2s ease-out infinite; }
.state-answered .status { color: var(--ok); }
.state-answered .pulse { background: var(--ok); }
.state-missed .status, .state-voicemail .status { color: var(--red); background: var(--red-soft); }
.state-missed .pulse, .state-voicemail .pulse { background: var(--red); }

.caller { padding: 12px 14px 4px; }
.name { font-size: 21px; line-height: 1.25; font-weight: 650; letter-spacing: -0.015em; margin: 6px 0 2px; overflow-wrap: anywhere; }
.address { font-size: 15px; }
.address .label { color: var(--muted); font-size: 13px; }
.meta { color: var(--muted); font-size: 12.5px; }
.meta.inline { margin-left: 6px; }
.caller .meta { margin-top: 2px; }
a.source { color: var(--accent, inherit); }
.source-fact + .source-fact { margin-top: 6px; }

.badges { display: flex; flex-wrap: wrap; gap: 5px; }
.badge {
  display: inline-block; padding: 1px 8px; border-radius: 999px;
  font-size: 11.5px; font-weight: 600; line-height: 18px;
  background: #eef0f3; color: #3d4654; white-space: nowrap;
}
.badge.match-known { background: var(--ok-soft); color: var(--ok); }
.badge.match-ambiguous { background: var(--amber-soft); color: var(--amber); }
.badge.match-unknown, .badge.match-withheld { background: #eef0f3; color: var(--muted); }
.badge.flag-attention { background: var(--red); color: #fff; }
.badge.flag-vip { background: var(--violet); color: #fff; }
.badge.lang { background: #e9f0fc; color: var(--accent); }
.badge.need { background: var(--violet-soft); color: var(--violet); }
.badge.chosen { background: #e9f0fc; color: var(--accent); font-weight: 550; }
.badge.outcome, .badge.status { font-weight: 550; margin-left: 6px; }

.body { padding: 0 14px 12px; }
.section { border-top: 1px solid var(--line); padding: 10px 0 2px; margin-top: 10px; }
.section h3, .form h3 {
  font-size: 11px; font-weight: 650; letter-spacing: 0.06em; text-transform: uppercase;
  color: var(--muted); margin-bottom: 6px;
}
.plain { list-style: none; display: flex; flex-direction: column; gap: 6px; }

.callback {
  display: flex; gap: 10px; align-items: flex-start;
  padding: 8px 10px; border-radius: 8px; background: #f6f7f9;
}
.callback .grow { flex: 1; min-width: 0; }
.callback-reason { font-weight: 550; }
.callback.overdue { background: var(--red-soft); color: var(--red); box-shadow: inset 3px 0 0 var(--red); }
.callback.overdue .meta { color: var(--red); font-weight: 600; }

/* The callback lists: a bar of toggles above the cards; a list only when asked for. */
.callback-lists { margin: 12px 14px 0; padding: 8px 10px; border-radius: var(--radius); background: var(--surface); border: 1px solid var(--line); }
.callback-lists .tabs { display: flex; align-items: center; gap: 6px; flex-wrap: wrap; }
.callback-lists .tabs-title { font-weight: 650; margin-right: auto; }
.callback-lists button.tab { padding: 3px 10px; font-size: 12.5px; border-radius: 999px; }
.callback-lists button.tab.active { background: var(--accent); border-color: var(--accent); color: #fff; }
.callback-lists button.tab.has-overdue:not(.active) { border-color: #f0b8b2; color: var(--red); }
.callback-lists .plain { margin-top: 8px; }
.callback-lists .muted { margin-top: 8px; color: var(--muted); font-size: 13px; }
.callback-lists .actions { display: flex; flex-direction: column; gap: 4px; align-items: stretch; flex: none; }
a.call-back {
  display: inline-block; padding: 4px 10px; border-radius: 8px; font-size: 12.5px; font-weight: 600;
  text-align: center; text-decoration: none; background: var(--accent); color: #fff;
}
a.call-back.sip, a.call-back.secondary { background: transparent; color: var(--accent); border: 1px solid var(--accent); }

.case p + p { margin-top: 2px; }
.case-kind { color: var(--muted); font-size: 12.5px; }
.notice { padding: 8px 10px; border-radius: 8px; background: #eef3fc; margin-bottom: 6px; }
.notice p { margin-top: 2px; font-size: 13px; }
.hidden-note { font-style: italic; }
.notice.severity-warning { background: var(--amber-soft); }
.notice.severity-critical, .notice.severity-error { background: var(--red-soft); }

.facts { display: grid; grid-template-columns: max-content 1fr; gap: 3px 12px; margin-top: 6px; font-size: 13px; }
.facts dt { color: var(--muted); }
.facts dd { overflow-wrap: anywhere; }

.timeline { list-style: none; display: flex; flex-direction: column; gap: 8px; }
.timeline li { padding-left: 10px; border-left: 2px solid var(--line); }
.pre { white-space: pre-wrap; }

.message { margin-top: 10px; padding: 7px 10px; border-radius: 8px; font-size: 13px; }
.message.ok { background: var(--ok-soft); color: var(--ok); font-weight: 550; }
.message.error { background: var(--red-soft); color: var(--red); }
.message.warning { background: var(--red-soft); color: var(--red); font-weight: 550; }

/* Forms: the wrap-up, a note, a new contact, household candidates. */
.form { display: flex; flex-direction: column; gap: 8px; }
.wrapup { margin-top: 12px; padding: 12px; border-radius: 8px; background: #f6f8fc; border: 1px solid #dde5f4; }
.note { margin-top: 12px; flex-direction: row; align-items: flex-end; }
.note textarea { flex: 1; }
.row { display: flex; gap: 8px; }
.row > * { flex: 1; min-width: 0; }
.field { display: flex; flex-direction: column; gap: 3px; font-size: 12.5px; color: var(--muted); font-weight: 550; }
.helped { border: 0; margin: 0; padding: 0; }
.helped legend { padding: 0; margin-bottom: 3px; }
.helped .choices { display: flex; gap: 14px; flex-wrap: wrap; align-items: center; }
.helped .choice { display: flex; align-items: center; gap: 4px; color: var(--text); font-weight: 450; font-size: 13.5px; }
.helped input { width: auto; margin: 0; }
input, textarea, select {
  font: inherit; font-size: 14px; color: var(--text);
  width: 100%; padding: 6px 9px;
  border: 1px solid #cdd3db; border-radius: 7px; background: #fff;
}
textarea { resize: vertical; min-height: 38px; }
input:focus, textarea:focus, select:focus, button:focus-visible {
  outline: 2px solid var(--accent); outline-offset: 1px; border-color: var(--accent);
}
button {
  font: inherit; font-size: 13px; font-weight: 600; cursor: pointer;
  padding: 6px 12px; border-radius: 7px;
  border: 1px solid #cdd3db; background: #fff; color: var(--text);
}
button:hover:not(:disabled) { background: #f3f5f8; }
button:disabled { opacity: 0.5; cursor: default; }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; align-self: flex-start; }
button.primary:hover:not(:disabled) { background: #1a50b3; }
button.small { padding: 4px 10px; font-size: 12.5px; flex: none; }
.callback.overdue button.small { border-color: #f0b8b2; color: var(--red); }
.callback button.small.originate { background: var(--accent); border-color: var(--accent); color: #fff; } /* stamgast-widget-originate.js */
button.icon { border: 0; background: transparent; font-size: 18px; line-height: 1; padding: 2px 6px; color: var(--muted); }
button.candidate {
  width: 100%; text-align: left; display: flex; flex-direction: column; align-items: flex-start; gap: 1px;
  padding: 8px 10px; font-weight: 400;
}
.candidate-name { font-weight: 650; font-size: 14.5px; }
.candidate-meta { color: var(--muted); font-size: 12.5px; }
button.candidate .badge { margin-top: 3px; }

@keyframes ring { 0% { box-shadow: 0 0 0 0 rgba(31, 95, 209, 0.5); } 100% { box-shadow: 0 0 0 7px rgba(31, 95, 209, 0); } }
@keyframes blink { 50% { opacity: 0.3; } }
@media (prefers-reduced-motion: reduce) {
  .pulse, .pill::before { animation: none !important; }
  .call-card { transition: none; }
}
`;
})();
