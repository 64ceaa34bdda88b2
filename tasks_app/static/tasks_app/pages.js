/* The task pages: list, detail and the start form. Plain JavaScript, no build step. */
(function (global) {
  "use strict";

  const api = async (method, url, body, isForm) => {
    const headers = { Accept: "application/json", "X-CSRFToken": global.CSRF_TOKEN };
    if (body && !isForm) headers["Content-Type"] = "application/json";
    const response = await fetch(url, {
      method, headers, credentials: "same-origin",
      body: body ? (isForm ? body : JSON.stringify(body)) : undefined,
    });
    const data = response.status === 204 ? null : await response.json().catch(() => null);
    if (!response.ok) {
      const error = new Error((data && data.detail) || response.statusText);
      error.data = data;
      throw error;
    }
    return data;
  };

  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    }
    for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
    return node;
  };

  const bar = (percent) => el("div", { class: "bar" }, el("div", { style: `width:${percent}%` }));
  const TERMINAL = new Set(["succeeded", "failed", "revoked"]);

  function showMode(manager) {
    manager.on("mode", (mode) => {
      const node = document.getElementById("mode");
      node.textContent = mode === "socket" ? "● live" : "○ polling";
      node.dataset.mode = mode;
    });
  }

  // --- /tasks/ -----------------------------------------------------------------------------
  function listPage() {
    const body = document.querySelector("#tasks tbody");
    const filter = document.getElementById("status-filter");
    const rows = new Map();

    function render(task) {
      if (filter.value && !filter.value.split(",").includes(task.status)) {
        rows.get(task.task_id)?.remove();
        rows.delete(task.task_id);
        return;
      }
      let row = rows.get(task.task_id);
      if (!row) {
        row = el("tr", { "data-task-id": task.task_id });
        rows.set(task.task_id, row);
        body.prepend(row);
      }
      const cancel = el("button", { type: "button", onclick: () => cancelTask(task.task_id) }, "Cancel");
      if (TERMINAL.has(task.status)) cancel.disabled = true;
      row.replaceChildren(
        el("td", {}, el("a", { href: `/tasks/${task.task_id}/` }, task.name || task.task_type)),
        el("td", {}, task.task_type || ""),
        el("td", { class: "status" }, task.status),
        el("td", {}, bar(task.progress || 0), el("small", {}, `${task.progress || 0}% ${task.message || ""}`)),
        el("td", {}, task.created_at ? new Date(task.created_at).toLocaleString() : ""),
        el("td", {}, cancel),
      );
      document.getElementById("empty").hidden = rows.size > 0;
    }

    async function load() {
      const query = filter.value ? `&status=${encodeURIComponent(filter.value)}` : "";
      const page = await api("GET", `/api/v1/tasks/?limit=50${query}`);
      body.replaceChildren();
      rows.clear();
      for (const task of page.results.reverse()) render({ ...task, task_id: task.id });
      document.getElementById("empty").hidden = rows.size > 0;
    }

    const known = new Map();
    const manager = new TaskWebSocketManager(global.CASEWORK_WS_OPTIONS || {});
    showMode(manager);
    manager.on("*", (type, event) => {
      if (type === "snapshot" || type === "mode" || type === "error" || !event.task_id) return;
      const task = { ...(known.get(event.task_id) || {}), ...event };
      known.set(event.task_id, task);
      if (!rows.has(event.task_id)) load(); else render(task);
    });
    filter.addEventListener("change", load);
    load().then(() => manager.connect());
  }

  async function cancelTask(id) {
    try { await api("POST", `/api/v1/tasks/${id}/cancel`); } catch (err) { alert(err.message); }
  }

  // --- /tasks/<id>/ ------------------------------------------------------------------------
  function detailPage(taskId) {
    const $ = (id) => document.getElementById(id);

    function renderSteps(steps) {
      if (!steps) return;
      $("steps").replaceChildren(...steps.map((s) =>
        el("li", { "data-step": s.name, class: s.status },
          `${s.name} — ${s.status} `, bar(s.progress || 0))));
    }

    function renderResult(result) {
      $("result").textContent = result == null ? "" : JSON.stringify(result, null, 2);
      const links = [];
      const walk = (value, key, parent) => {
        if (typeof value === "string" && /^\/(api|media)\//.test(value)
            && (/(url|download|href)/i.test(key) || /(artifact|download|link|file)/i.test(parent))) {
          links.push({ href: value, label: parent && !/(url|download|href)/i.test(key) ? `${parent} · ${key}` : key });
        } else if (value && typeof value === "object") {
          for (const [k, v] of Object.entries(value)) walk(v, k, key);
        }
      };
      walk(result, "", "");
      $("downloads").replaceChildren(...links.flatMap((link) => [
        el("a", { href: link.href, class: "download" }, link.label), " "]));
      // A report rendered as HTML is shown on the page, sandboxed (no scripts, no forms).
      const html = links.find((link) => /\.html$/.test(link.href));
      $("report").replaceChildren(...(html
        ? [el("iframe", { src: html.href, sandbox: "", title: "report" })] : []));
    }

    function render(state) {
      if (state.status) $("status").textContent = state.status;
      if (state.progress != null) {
        $("bar").style.width = `${state.progress}%`;
        $("percent").textContent = state.progress;
      }
      if (state.message != null) $("message").textContent = state.message;
      if (state.attempt != null) $("attempt").textContent = state.attempt;
      renderSteps(state.steps);
      if (state.status === "succeeded" && "result" in state) renderResult(state.result);
      if (state.error) $("error").textContent = `${state.error.kind}: ${state.error.message}`;
      const finished = TERMINAL.has(state.status);
      $("cancel").disabled = finished;
      $("retry").disabled = !(state.status === "failed" || state.status === "revoked");
      if (state.type !== "progress") loadEvents();
    }

    async function loadEvents() {
      const page = await api("GET", `/api/v1/tasks/${taskId}/events`);
      const events = Array.isArray(page) ? page : page.results;
      $("events").replaceChildren(...events.map((e) =>
        el("li", {}, `${new Date(e.at).toLocaleTimeString()} ${e.from_status || "∅"} → ${e.to_status}`
          + ` (attempt ${e.attempt})${e.detail && e.detail.reason ? " — " + e.detail.reason : ""}`)));
    }

    async function loadResult() {
      const state = await api("GET", `/api/v1/tasks/${taskId}/status`);
      render(state);
    }

    $("cancel").addEventListener("click", () => cancelTask(taskId));
    $("retry").addEventListener("click", async () => {
      try {
        const task = await api("POST", `/api/v1/tasks/${taskId}/retry`, {});
        location.href = `/tasks/${task.id}/`;
      } catch (err) { alert(err.message); }
    });

    const manager = new TaskWebSocketManager(global.CASEWORK_WS_OPTIONS || {});
    global.casework = { manager };
    showMode(manager);
    for (const type of ["snapshot", "progress", "step", "status", "completed", "failed", "revoked"]) {
      manager.on(type, render);
    }
    manager.on("completed", loadResult);
    manager.on("error", (e) => { if (e.code) $("error").textContent = `live updates: ${e.reason}`; });
    loadEvents();
    manager.connect(taskId);
  }

  // --- /tasks/new/ ---------------------------------------------------------------------------
  function newPage() {
    const form = document.getElementById("new-task");
    const typeSelect = document.getElementById("task-type");
    const showParams = () => {
      for (const set of form.querySelectorAll("fieldset.params")) {
        set.hidden = set.dataset.type !== typeSelect.value;
        set.disabled = set.hidden;
      }
    };
    typeSelect.addEventListener("change", showParams);
    showParams();

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const params = {};
      const set = form.querySelector(`fieldset.params[data-type="${typeSelect.value}"]`);
      try {
        for (const input of set.querySelectorAll("[name]")) {
          const kind = input.dataset.kind;
          if (kind === "bool") params[input.name] = input.checked;
          else if (input.value === "") continue;
          else if (kind === "json") params[input.name] = JSON.parse(input.value);
          else if (kind === "number") params[input.name] = Number(input.value);
          else params[input.name] = input.value;
        }
        const body = { task_type: typeSelect.value, params };
        if (form.name.value) body.name = form.name.value;
        if (form.priority.value) body.priority = Number(form.priority.value);
        const task = await api("POST", "/api/v1/tasks/", body);
        location.href = `/tasks/${task.id}/`;
      } catch (err) {
        document.getElementById("form-error").textContent =
          err.data ? JSON.stringify(err.data, null, 2) : err.message;
      }
    });

    document.getElementById("upload").addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const data = await api("POST", "/api/v1/documents/async/upload", new FormData(event.target), true);
        location.href = `/tasks/${data.task_id}/`;
      } catch (err) {
        document.getElementById("upload-error").textContent =
          err.data ? JSON.stringify(err.data, null, 2) : err.message;
      }
    });
  }

  global.Casework = { listPage, detailPage, newPage, api };
})(window);
