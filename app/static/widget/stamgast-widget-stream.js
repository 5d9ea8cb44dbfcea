/* Stamgast widget: the pop stream. One WebSocket (or SSE when WebSocket will not open),
 * reconnecting with backoff, resuming from the last sequence number, dropping duplicates.
 *
 * Events (on the PopStream, an EventTarget):
 *   "state"  detail {state: "connecting"|"connected"|"reconnecting"|"offline", transport}
 *   "pop"    detail {seq, pop}         a pop not seen before, in arrival order
 *   "resync" detail {message}          the server could not replay what we missed
 *   "retry"  detail {attempt}          a connection attempt failed; another is scheduled
 *   "refused"                          the server refused the token (the stream stopped)
 */
(function () {
  "use strict";
  const ns = (globalThis.Stamgast = globalThis.Stamgast || {});

  const BACKOFF_FIRST_MS = 500;
  const BACKOFF_MAX_MS = 10000;
  const PING_EVERY_MS = 20000;
  // No frame at all for this long (a ping is answered by a pong) means the socket is dead.
  const SILENCE_LIMIT_MS = 45000;
  const SEEN_POP_IDS = 1000;
  const WS_FAILURES_BEFORE_SSE = 2;
  const CLOSE_BAD_REQUEST = 4400;
  const CLOSE_UNAUTHORIZED = 4401;

  function streamUrl(server, path, params, websocket) {
    const url = new URL(server.replace(/\/+$/, "") + path); // keeps a path prefix of the server
    if (websocket) url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    for (const [name, value] of Object.entries(params)) {
      if (value !== null && value !== undefined) url.searchParams.set(name, String(value));
    }
    return url.href;
  }

  class PopStream extends EventTarget {
    /** @param {{server: string, token: string, transport?: string}} options */
    constructor({ server, token, transport }) {
      super();
      this.server = server;
      this.token = token;
      this.preferSse = transport === "sse";
      this.state = "offline";
      this.transport = this.preferSse ? "sse" : "ws";
      this._storageKey = `stamgast:last-seq:${server}:${token.slice(0, 12)}`;
      this.lastSeq = this._loadSeq();
      // The server's name for the life of its sequence numbers (from `hello`): a last_seq
      // is only meaningful with the epoch it was given in.
      this.epoch = this._loadEpoch();
      this._seen = new Set();
      this._attempt = 0;
      this._wsFailures = 0;
      this._socket = null;
      this._source = null;
      this._timer = null;
      this._pinger = null;
      this._lastFrameAt = 0;
      this._stopped = true;
      this._onOnline = () => this._reconnectNow();
      this._onOffline = () => this._setState("offline");
    }

    start() {
      if (!this._stopped) return;
      this._stopped = false;
      globalThis.addEventListener("online", this._onOnline);
      globalThis.addEventListener("offline", this._onOffline);
      this._setState("connecting");
      this._open();
    }

    stop() {
      this._stopped = true;
      globalThis.removeEventListener("online", this._onOnline);
      globalThis.removeEventListener("offline", this._onOffline);
      clearTimeout(this._timer);
      this._closeCurrent();
      this._setState("offline");
    }

    _loadSeq() {
      try {
        const value = Number.parseInt(globalThis.localStorage.getItem(this._storageKey), 10);
        return Number.isFinite(value) && value >= 0 ? value : null;
      } catch {
        return null; // storage may be disabled (privacy mode): resume from the live edge
      }
    }

    _loadEpoch() {
      try {
        const value = globalThis.localStorage.getItem(`${this._storageKey}:epoch`);
        return value && /^[0-9a-f]{1,64}$/.test(value) ? value : null;
      } catch {
        return null;
      }
    }

    _saveSeq() {
      try {
        if (this.epoch) globalThis.localStorage.setItem(`${this._storageKey}:epoch`, this.epoch);
        globalThis.localStorage.setItem(this._storageKey, String(this.lastSeq));
      } catch {
        /* not persisted: a reload then starts from the live edge */
      }
    }

    /** Where to resume: last_seq with its epoch, or nothing (the live edge). */
    _resumeAt() {
      if (this.lastSeq === null) return {};
      return this.epoch ? { last_seq: this.lastSeq, epoch: this.epoch } : { last_seq: this.lastSeq };
    }

    _setState(state) {
      if (state === this.state) return;
      this.state = state;
      this.dispatchEvent(
        new CustomEvent("state", { detail: { state, transport: this.transport } }),
      );
    }

    _open() {
      if (this._stopped) return;
      this._closeCurrent();
      const useSse = this.preferSse || this._wsFailures >= WS_FAILURES_BEFORE_SSE;
      this.transport = useSse ? "sse" : "ws";
      if (useSse) this._openSse();
      else this._openWs();
    }

    _openWs() {
      const url = streamUrl(
        this.server, "/v1/stream", { token: this.token, ...this._resumeAt() }, true,
      );
      let socket;
      try {
        socket = new WebSocket(url);
      } catch {
        this._wsFailures += 1;
        this._retry();
        return;
      }
      let opened = false;
      this._socket = socket;
      socket.onopen = () => {
        opened = true;
        this._wsFailures = 0;
        this._lastFrameAt = Date.now();
        this._startPings();
      };
      socket.onmessage = (event) => this._onText(event.data);
      socket.onclose = (event) => {
        if (this._socket !== socket) return;
        this._socket = null;
        this._stopPings();
        if (event.code === CLOSE_UNAUTHORIZED) {
          this._refused();
          return;
        }
        if (event.code === CLOSE_BAD_REQUEST) this.lastSeq = null; // a cursor the server rejects
        if (!opened) this._wsFailures += 1;
        this._retry();
      };
    }

    _openSse() {
      const url = streamUrl(
        this.server, "/v1/stream/sse", { token: this.token, ...this._resumeAt() }, false,
      );
      const source = new EventSource(url);
      this._source = source;
      const handle = (event) => this._onText(event.data);
      for (const name of ["hello", "pop", "resync", "bye", "message"]) {
        source.addEventListener(name, handle);
      }
      let opened = false;
      source.onopen = () => {
        opened = true;
      };
      source.onerror = () => {
        if (this._source !== source) return;
        if (source.readyState === EventSource.CLOSED) {
          this._source = null;
          // SSE chosen only because WebSocket failed, and failing too: the server may just
          // be down, so try WebSocket again next.
          if (!opened && !this.preferSse) this._wsFailures = 0;
          this._retry();
        } else {
          // The browser reconnects by itself, sending Last-Event-ID.
          this._setState(navigator.onLine === false ? "offline" : "reconnecting");
        }
      };
    }

    /** The server refused the token: retrying cannot help. */
    _refused() {
      this.stop();
      this.dispatchEvent(new CustomEvent("refused"));
    }

    _closeCurrent() {
      this._stopPings();
      const socket = this._socket;
      const source = this._source;
      this._socket = null;
      this._source = null;
      if (socket) {
        socket.onopen = socket.onmessage = socket.onclose = null;
        try {
          socket.close(1000);
        } catch {
          /* already closing */
        }
      }
      if (source) source.close();
    }

    _retry(afterMs) {
      if (this._stopped) return;
      clearTimeout(this._timer);
      this._attempt += 1;
      const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (this._attempt - 1));
      // Jitter spreads a whole contact centre reconnecting after a restart.
      const delay = afterMs ?? Math.round(backoff * (0.8 + Math.random() * 0.4));
      this._setState(navigator.onLine === false ? "offline" : "reconnecting");
      this.dispatchEvent(new CustomEvent("retry", { detail: { attempt: this._attempt } }));
      this._timer = setTimeout(() => this._open(), delay);
    }

    _reconnectNow() {
      if (this._stopped || this.state === "connected") return;
      clearTimeout(this._timer);
      this._attempt = 0;
      this._open();
    }

    _startPings() {
      this._stopPings();
      this._pinger = setInterval(() => {
        const socket = this._socket;
        if (!socket || socket.readyState !== WebSocket.OPEN) return;
        if (Date.now() - this._lastFrameAt > SILENCE_LIMIT_MS) {
          socket.close(4000, "silent"); // onclose schedules the reconnect
          return;
        }
        socket.send(JSON.stringify({ type: "ping" }));
      }, PING_EVERY_MS);
    }

    _stopPings() {
      clearInterval(this._pinger);
      this._pinger = null;
    }

    _onText(text) {
      this._lastFrameAt = Date.now();
      let frame;
      try {
        frame = JSON.parse(text);
      } catch {
        return; // not ours to understand; the stream carries on
      }
      if (!frame || typeof frame !== "object") return;
      if (frame.pop) this._onPop(frame);
      else if (typeof frame.type === "string") this._onNotice(frame);
    }

    _onNotice(notice) {
      switch (notice.type) {
        case "hello":
          if (typeof notice.epoch === "string" && notice.epoch !== this.epoch) {
            this.epoch = notice.epoch;
            if (this.lastSeq !== null) this._saveSeq();
          }
          // A server whose sequence restarted (a restart of the in-process broker) is behind
          // us: follow it, or every new pop would look like an old one.
          if (Number.isInteger(notice.seq) && this.lastSeq !== null && notice.seq < this.lastSeq) {
            this.lastSeq = notice.seq;
            this._saveSeq();
          }
          this._attempt = 0;
          this._setState("connected");
          break;
        case "resync":
          this._setState("connected");
          this.dispatchEvent(
            new CustomEvent("resync", { detail: { message: notice.message ?? null } }),
          );
          break;
        case "bye": {
          const wait = Number.isFinite(notice.retry_ms) ? notice.retry_ms : 3000;
          this._closeCurrent();
          this._attempt = 0;
          this._retry(wait);
          break;
        }
        default:
          break; // pong, and anything newer than this widget
      }
    }

    _onPop(frame) {
      this._setState("connected");
      const { seq, pop } = frame;
      const hasSeq = Number.isInteger(seq);
      if (hasSeq && this.lastSeq !== null && seq <= this.lastSeq) return;
      if (hasSeq) {
        this.lastSeq = seq;
        this._saveSeq();
      }
      if (pop.pop_id) {
        if (this._seen.has(pop.pop_id)) return;
        this._seen.add(pop.pop_id);
        if (this._seen.size > SEEN_POP_IDS) {
          this._seen.delete(this._seen.values().next().value);
        }
      }
      this.dispatchEvent(new CustomEvent("pop", { detail: { seq, pop } }));
    }
  }

  ns.PopStream = PopStream;
})();
