/* The stand-alone page: /widget?token=sga_… (or paste it once), then the widget full-page.
 * The token is kept in localStorage and taken out of the address bar, so it does not end up
 * in the browser history or a screenshot. ?lang=en and ?transport=sse pass through. */
(function () {
  "use strict";
  const STORAGE_KEY = "stamgast:widget-token";
  const params = new URLSearchParams(location.search);
  const lang = params.get("lang") || ((navigator.language || "").toLowerCase().startsWith("nl") ? "nl" : "en");
  const english = lang !== "nl";

  function stored() {
    try {
      return localStorage.getItem(STORAGE_KEY) || "";
    } catch {
      return "";
    }
  }

  function store(token) {
    try {
      if (token) localStorage.setItem(STORAGE_KEY, token);
      else localStorage.removeItem(STORAGE_KEY);
    } catch {
      /* storage disabled: the token lives as long as this page */
    }
  }

  function showWidget(token) {
    document.getElementById("token-form").hidden = true;
    const widget = document.createElement("stamgast-widget");
    widget.setAttribute("token", token);
    widget.setAttribute("lang", lang);
    if (params.get("transport")) widget.setAttribute("transport", params.get("transport"));
    document.getElementById("app").append(widget);
    document.getElementById("page-footer").hidden = false;
  }

  function showForm() {
    const form = document.getElementById("token-form");
    if (english) {
      document.documentElement.lang = "en";
      document.getElementById("token-help").textContent = "Paste your agent token to see your callers' cards.";
      document.getElementById("token-label").textContent = "Agent token";
      document.getElementById("token-submit").textContent = "Connect";
    }
    form.hidden = false;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const token = document.getElementById("token-input").value.trim();
      if (!token) return;
      store(token);
      showWidget(token);
    });
    document.getElementById("token-input").focus();
  }

  const fromUrl = params.get("token");
  if (fromUrl) {
    store(fromUrl.trim());
    params.delete("token");
    const query = params.toString();
    history.replaceState(null, "", location.pathname + (query ? `?${query}` : "") + location.hash);
  }
  document.documentElement.lang = english ? "en" : "nl";
  const forget = document.getElementById("forget-token");
  if (english) forget.textContent = "Use another token";
  forget.addEventListener("click", () => {
    store("");
    location.reload();
  });
  const token = (fromUrl || stored()).trim();
  if (token) showWidget(token);
  else showForm();
})();
