/*
 * TaskWebSocketManager: live task events from Casework, as the users' front end knows it.
 *
 *   const ws = new TaskWebSocketManager();
 *   ws.on('progress', (e) => ...); ws.on('completed', (e) => ...);
 *   ws.connect(taskId);            // one task; ws.connect() streams all of the caller's tasks
 *
 * Events: snapshot, progress, step, status, completed, failed, revoked, mode ('socket' |
 * 'polling'), error. Every event carries a `seq`; a gap or a reconnect asks the server for a
 * fresh snapshot, so nothing is missed. After `maxAttempts` failed reconnects (exponential
 * backoff) it polls the REST status endpoint, and goes back to the socket when it returns.
 */
(function (global) {
  "use strict";

  const TERMINAL = { succeeded: "completed", failed: "failed", revoked: "revoked" };
  const FATAL_CLOSE = { 4401: "unauthenticated", 4403: "forbidden origin", 4404: "not found" };

  class TaskWebSocketManager {
    constructor(options = {}) {
      this.maxAttempts = options.maxAttempts ?? 5;
      this.backoffBase = options.backoffBase ?? 500;
      this.pollInterval = options.pollInterval ?? 2000;
      this.probeEvery = options.probeEvery ?? 3;
      this.statusUrl = options.statusUrl ?? ((id) => `/api/v1/tasks/${id}/status`);
      this.wsBase = options.wsBase ?? `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}`;
      this.handlers = {};
      this.taskId = null;
      this.socket = null;
      this.attempts = 0;
      this.lastSeq = {};
      this.mode = null;
      this.closedByUs = false;
      this.pollTimer = null;
      this.polls = 0;
      this.finished = false;
    }

    on(type, callback) {
      (this.handlers[type] = this.handlers[type] || []).push(callback);
      return this;
    }

    emit(type, data) {
      for (const callback of this.handlers[type] || []) {
        try { callback(data); } catch (err) { console.error(err); }
      }
      for (const callback of this.handlers["*"] || []) {
        try { callback(type, data); } catch (err) { console.error(err); }
      }
    }

    connect(taskId = null) {
      this.taskId = taskId;
      this.closedByUs = false;
      this.openSocket();
      return this;
    }

    close() {
      this.closedByUs = true;
      this.stopPolling();
      if (this.socket) this.socket.close(1000);
    }

    url() {
      return this.taskId ? `${this.wsBase}/ws/tasks/${this.taskId}/` : `${this.wsBase}/ws/tasks/`;
    }

    setMode(mode) {
      if (this.mode !== mode) {
        this.mode = mode;
        this.emit("mode", mode);
      }
    }

    openSocket(probe = false) {
      let socket;
      try {
        socket = new WebSocket(this.url());
      } catch (err) {
        this.onSocketLost(null, probe);
        return;
      }
      this.socket = socket;
      socket.onopen = () => {
        this.attempts = 0;
        this.stopPolling();
        this.setMode("socket");
      };
      socket.onmessage = (message) => this.onMessage(JSON.parse(message.data));
      socket.onclose = (event) => {
        if (this.socket === socket) this.socket = null;
        if (FATAL_CLOSE[event.code]) {
          this.emit("error", { code: event.code, reason: FATAL_CLOSE[event.code] });
          return;
        }
        this.onSocketLost(event, probe);
      };
    }

    onSocketLost(event, probe) {
      if (this.closedByUs || this.finished) return;
      if (probe || this.mode === "polling") return;  // keep polling; a later probe retries
      this.attempts += 1;
      if (this.attempts > this.maxAttempts) {
        this.startPolling();
        return;
      }
      const delay = this.backoffBase * 2 ** (this.attempts - 1);
      setTimeout(() => this.openSocket(), delay);
    }

    onMessage(data) {
      if (data.type === "heartbeat" || data.type === "pong") return;
      if (data.type === "snapshot") {
        if (Array.isArray(data.tasks)) {
          for (const task of data.tasks) this.lastSeq[task.task_id] = task.seq || 0;
        } else {
          this.lastSeq[data.task_id] = data.seq || 0;
        }
        this.emit("snapshot", data);
        if (data.status && TERMINAL[data.status]) this.finish(data);
        return;
      }
      const key = data.task_id;
      const last = this.lastSeq[key];
      if (data.seq != null && last != null) {
        if (data.seq <= last) return;          // already seen (a snapshot covered it)
        if (data.seq > last + 1 && this.socket) {
          this.socket.send(JSON.stringify({ type: "resync", last_seq: last }));
        }
      }
      if (data.seq != null) this.lastSeq[key] = data.seq;
      this.emit(data.type, data);
      if (TERMINAL[data.status] && data.type === TERMINAL[data.status]) this.finish(data);
    }

    finish(data) {
      if (!this.taskId) return;             // the list stream never finishes
      this.finished = true;
      this.stopPolling();
    }

    startPolling() {
      if (!this.taskId) return;
      this.setMode("polling");
      this.stopPolling();
      const tick = async () => {
        this.polls += 1;
        try {
          const response = await fetch(this.statusUrl(this.taskId), {
            credentials: "same-origin", headers: { Accept: "application/json" },
          });
          if (response.ok) this.onPolled(await response.json());
        } catch (err) {
          this.emit("error", { reason: String(err) });
        }
        if (this.finished || this.closedByUs) return;
        if (this.polls % this.probeEvery === 0) this.openSocket(true);
        this.pollTimer = setTimeout(tick, this.pollInterval);
      };
      this.pollTimer = setTimeout(tick, 0);
    }

    stopPolling() {
      if (this.pollTimer) clearTimeout(this.pollTimer);
      this.pollTimer = null;
    }

    onPolled(state) {
      const type = TERMINAL[state.status] || "progress";
      const event = { ...state, type, polled: true };
      this.emit(type === "progress" ? "progress" : "status", event);
      if (TERMINAL[state.status]) {
        this.emit(type, event);
        this.finish(event);
      }
    }
  }

  global.TaskWebSocketManager = TaskWebSocketManager;
})(window);
