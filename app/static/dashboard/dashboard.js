/* The supervisors' dashboard: asks GET /v1/stats/dashboard and draws it with Chart.js.
 * /dashboard?token=… (or paste it once; kept in localStorage and taken out of the address
 * bar), ?lang=nl|en (else the last switch, else the server's pick from Accept-Language),
 * ?since=YYYY-MM-DD&until=YYYY-MM-DD (until exclusive, as the API), ?line_id, ?team_id. */
(function () {
  "use strict";
  const ns = globalThis.StamgastDashboard;
  const TOKEN_KEY = "stamgast:dashboard-token";
  const LANG_KEY = "stamgast:dashboard-lang";
  const COLOURS = {
    known: "#1f7a4d", ambiguous: "#d68a00", unknown: "#8a94a6", withheld: "#3d4a5c",
    p50: "#1f5fd1", p99: "#b42318", missed: "#b42318", called_back: "#1f7a4d",
    minutes: "#d68a00", helped: "#1f7a4d", fcr: "#1f5fd1", satisfaction: "#7a4fd1",
    survey: "#d68a00",
  };
  const params = new URLSearchParams(location.search);
  const $ = (id) => document.getElementById(id);
  const state = { lang: pickLanguage(), token: "", data: null, charts: {} };

  function pickLanguage() {
    const asked = params.get("lang") || remembered(LANG_KEY) || document.documentElement.lang;
    return asked === "en" ? "en" : "nl";
  }

  function remembered(key) {
    try { return localStorage.getItem(key) || ""; } catch { return ""; }
  }

  function remember(key, value) {
    try {
      if (value) localStorage.setItem(key, value);
      else localStorage.removeItem(key);
    } catch { /* storage disabled: kept for this page only */ }
  }

  const t = (key, values) => ns.t(state.lang, key, values);
  const locale = () => (state.lang === "nl" ? "nl-NL" : "en-GB");
  const number = (value, digits = 0) =>
    new Intl.NumberFormat(locale(), { maximumFractionDigits: digits }).format(value);
  const percent = (rate) => (rate === null ? "–" : `${number(rate * 100)}%`);

  function applyLanguage() {
    document.documentElement.lang = state.lang;
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    document.title = t("title");
    for (const button of document.querySelectorAll("[data-lang]")) {
      button.setAttribute("aria-pressed", String(button.dataset.lang === state.lang));
    }
    if (state.data) render(state.data);
  }

  function isoDay(date) {
    return date.toISOString().slice(0, 10);
  }

  function shiftDay(day, days) {
    const date = new Date(`${day}T00:00:00Z`);
    date.setUTCDate(date.getUTCDate() + days);
    return isoDay(date);
  }

  function initialPeriod() {
    const until = params.get("until") || shiftDay(isoDay(new Date()), 1);
    $("until-day").value = shiftDay(until, -1);  // shown inclusive, asked exclusive
    $("since").value = params.get("since") || shiftDay(until, -28);
  }

  function query() {
    const asked = new URLSearchParams({
      since: $("since").value,
      until: shiftDay($("until-day").value, 1),
    });
    if ($("line").value) asked.set("line_id", $("line").value);
    if ($("team").value) asked.set("team_id", $("team").value);
    return asked;
  }

  async function load() {
    $("board-error").hidden = true;
    let response;
    try {
      response = await fetch(`/v1/stats/dashboard?${query()}`, {
        headers: { Authorization: `Bearer ${state.token}` },
      });
    } catch (error) {
      return showError(String(error));
    }
    if (response.status === 401 || response.status === 403) {
      remember(TOKEN_KEY, "");
      return showForm(t("token_refused"));
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok) return showError(body.message || response.statusText);
    state.data = body;
    render(body);
  }

  function showError(message) {
    const node = $("board-error");
    node.textContent = t("failed", { message });
    node.hidden = false;
  }

  function fillOptions(select, allKey, options, chosen) {
    select.replaceChildren(new Option(t(allKey), ""));
    for (const option of options) select.append(new Option(option.label, String(option.id)));
    select.value = chosen === null || chosen === undefined ? "" : String(chosen);
  }

  function render(data) {
    fillOptions($("line"), "all_lines", data.lines.map((l) => ({ id: l.id, label: l.label })), data.line_id);
    fillOptions($("team"), "all_teams", data.teams.map((m) => ({ id: m.id, label: m.name })), data.team_id);
    $("zone").textContent = t("zone", { zone: data.timezone });
    const totals = data.totals;
    const ms = (value) => (value === null ? "–" : number(value, value < 10 ? 1 : 0));
    const kpis = {
      calls: number(totals.calls),
      recognition_rate: percent(totals.recognition_rate),
      ring_to_pop: `${ms(totals.ring_to_pop_p50_ms)} / ${ms(totals.ring_to_pop_p99_ms)} ms`,
      missed: number(totals.missed),
      called_back: `${number(totals.called_back)} · ${
        totals.callback_median_minutes === null ? "–" : t("minutes", { value: number(totals.callback_median_minutes) })}`,
      overdue_now: number(totals.overdue_now),
      helped_rate: percent(totals.helped_rate),
      fcr_rate: percent(totals.fcr_rate),
    };
    for (const node of document.querySelectorAll("[data-kpi]")) {
      node.textContent = kpis[node.dataset.kpi];
      if (node.dataset.kpi === "overdue_now") node.classList.toggle("bad", totals.overdue_now > 0);
    }
    drawCharts(data);
  }

  function chart(id, config) {
    if (state.charts[id]) state.charts[id].destroy();
    config.options = Object.assign(
      { animation: false, responsive: true, maintainAspectRatio: false,
        plugins: { legend: { position: "bottom" } } },
      config.options || {},
    );
    state.charts[id] = new Chart($(id), config);
  }

  function drawCharts(data) {
    const hours = data.hours.map((h) => `${String(h.hour).padStart(2, "0")}:00`);
    chart("chart-hours", {
      type: "bar",
      data: {
        labels: hours,
        datasets: ["known", "ambiguous", "unknown", "withheld"].map((kind) => ({
          label: t(kind), data: data.hours.map((h) => h[kind]), backgroundColor: COLOURS[kind],
        })),
      },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } },
    });
    // Bars, not a line: an hour without calls has no figure, and a line would invent one.
    chart("chart-ring", {
      type: "bar",
      data: {
        labels: hours,
        datasets: [
          { label: t("p50"), data: data.hours.map((h) => h.ring_to_pop_p50_ms), backgroundColor: COLOURS.p50 },
          { label: t("p99"), data: data.hours.map((h) => h.ring_to_pop_p99_ms), backgroundColor: COLOURS.p99 },
        ],
      },
      options: { scales: { y: { beginAtZero: true } } },
    });
    const weeks = data.weeks.map((w) => t("week_of", {
      day: new Date(`${w.week_start}T00:00:00Z`).toLocaleDateString(locale(), { day: "numeric", month: "short", timeZone: "UTC" }),
    }));
    chart("chart-missed", {
      data: {
        labels: weeks,
        datasets: [
          { type: "bar", label: t("missed"), data: data.weeks.map((w) => w.missed), backgroundColor: COLOURS.missed, yAxisID: "y" },
          { type: "bar", label: t("called_back"), data: data.weeks.map((w) => w.called_back), backgroundColor: COLOURS.called_back, yAxisID: "y" },
          { type: "line", label: t("callback_minutes"), data: data.weeks.map((w) => w.callback_median_minutes), borderColor: COLOURS.minutes, backgroundColor: COLOURS.minutes, yAxisID: "minutes", spanGaps: true },
        ],
      },
      options: { scales: {
        y: { beginAtZero: true, ticks: { precision: 0 } },
        minutes: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false } },
      } },
    });
    const pct = (rate) => (rate === null ? null : Math.round(rate * 1000) / 10);
    chart("chart-helped", {
      type: "line",
      data: {
        labels: weeks,
        datasets: [
          { label: t("helped_rate"), data: data.weeks.map((w) => pct(w.helped_rate)), borderColor: COLOURS.helped, backgroundColor: COLOURS.helped, yAxisID: "y", spanGaps: true },
          { label: t("fcr_rate"), data: data.weeks.map((w) => pct(w.fcr_rate)), borderColor: COLOURS.fcr, backgroundColor: COLOURS.fcr, yAxisID: "y", spanGaps: true },
          { label: t("satisfaction"), data: data.weeks.map((w) => w.satisfaction_mean), borderColor: COLOURS.satisfaction, backgroundColor: COLOURS.satisfaction, borderDash: [6, 4], yAxisID: "score", spanGaps: true },
          { label: t("survey"), data: data.weeks.map((w) => w.survey_mean), borderColor: COLOURS.survey, backgroundColor: COLOURS.survey, borderDash: [2, 3], yAxisID: "score", spanGaps: true },
        ],
      },
      options: { scales: {
        y: { min: 0, max: 100 },
        score: { min: 1, max: 5, position: "right", grid: { drawOnChartArea: false } },
      } },
    });
  }

  function showBoard(token) {
    state.token = token;
    $("token-form").hidden = true;
    $("board").hidden = false;
    load();
  }

  function showForm(message) {
    $("board").hidden = true;
    const form = $("token-form");
    form.hidden = false;
    $("token-error").textContent = message || "";
    $("token-error").hidden = !message;
    $("token-input").focus();
  }

  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token-input").value.trim();
    if (!token) return;
    remember(TOKEN_KEY, token);
    showBoard(token);
  });
  for (const id of ["since", "until-day", "line", "team"]) $(id).addEventListener("change", load);
  $("filters").addEventListener("submit", (event) => event.preventDefault());
  $("forget-token").addEventListener("click", () => {
    remember(TOKEN_KEY, "");
    location.reload();
  });
  for (const button of document.querySelectorAll("[data-lang]")) {
    button.addEventListener("click", () => {
      state.lang = button.dataset.lang;
      remember(LANG_KEY, state.lang);
      applyLanguage();
    });
  }

  const fromUrl = (params.get("token") || "").trim();
  if (fromUrl) {
    remember(TOKEN_KEY, fromUrl);
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + (rest ? `?${rest}` : "") + location.hash);
  }
  if (params.get("line_id")) $("line").append(new Option("", params.get("line_id")));
  if (params.get("team_id")) $("team").append(new Option("", params.get("team_id")));
  $("line").value = params.get("line_id") || "";
  $("team").value = params.get("team_id") || "";
  initialPeriod();
  applyLanguage();
  const token = fromUrl || remembered(TOKEN_KEY).trim();
  if (token) showBoard(token);
  else showForm();
})();
