// durable-exec console: the executions list and one execution's page.
//
// Every value from the store (names, payloads, error messages, stack traces)
// reaches the DOM as text: nodes are built with createElement and textContent,
// never from markup. The server's Content-Security-Policy allows only this
// script, so even a slip here could not run anything a payload carried.
"use strict";

(function () {
  const POLL_MS = 1000;
  const COLLAPSE_AFTER = 50;
  const PAGE_SIZES = [25, 50, 100, 200];
  const STATUSES = ["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"];
  const TOKEN = document.querySelector('meta[name="durable-exec-token"]').content;

  const state = {
    route: null, // {page: "list", query} or {page: "execution", arn, op}
    seq: 0,
    pollTimer: null,
    pollFailures: 0,
    list: { cursors: [null], index: 0, data: null },
    execution: {
      data: null,
      arn: null,
      selected: null,
      expanded: new Set(), // parents whose long child lists are shown whole
      collapsed: new Set(), // parents folded in the tree
      scale: "compact",
      forms: new Map(), // callback id -> {payload, message, errorType}
      jobSeen: 0,
    },
    generation: 0, // bumps on every navigation: stale answers are dropped
  };

  // ------------------------------------------------------------------ DOM

  function h(tag, props, ...children) {
    const node = document.createElement(tag);
    if (props) {
      for (const [key, value] of Object.entries(props)) {
        if (value === null || value === undefined || value === false) continue;
        if (key === "class") node.className = value;
        else if (key === "text") node.textContent = String(value);
        else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
        else if (key === "href") {
          const href = String(value);
          if (!href.startsWith("#")) throw new Error("only in-page links");
          node.setAttribute("href", href);
        } else node.setAttribute(key, value === true ? "" : String(value));
      }
    }
    append(node, children);
    return node;
  }

  function append(node, ...children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(
        typeof child === "string" || typeof child === "number"
          ? document.createTextNode(String(child))
          : child
      );
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  function toast(message, kind) {
    const box = document.getElementById("toast");
    box.textContent = message;
    box.className = "toast " + (kind || "info");
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => (box.hidden = true), kind === "error" ? 8000 : 4000);
  }

  // ------------------------------------------------------------------ formats

  function pad(n, width) {
    return String(n).padStart(width || 2, "0");
  }

  function formatTime(epoch) {
    if (epoch === null || epoch === undefined) return "";
    const d = new Date(epoch * 1000);
    return (
      d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + " " +
      pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds()) + "Z"
    );
  }

  function formatDuration(seconds) {
    if (seconds === null || seconds === undefined || isNaN(seconds)) return "";
    if (seconds < 0) seconds = 0;
    if (seconds < 1) return Math.round(seconds * 1000) + "ms";
    if (seconds < 60) return (seconds < 10 ? Math.round(seconds * 10) / 10 : Math.round(seconds)) + "s";
    const units = [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]];
    const parts = [];
    let rest = Math.round(seconds);
    for (const [unit, size] of units) {
      if (rest >= size) {
        parts.push(Math.floor(rest / size) + unit);
        rest %= size;
      }
      if (parts.length === 2) break;
    }
    return parts.join(" ");
  }

  function offset(epoch, origin) {
    if (epoch === null || epoch === undefined || origin === null || origin === undefined) return "";
    return "+" + formatDuration(epoch - origin);
  }

  function statusClass(status) {
    return "status s-" + String(status || "unknown").toLowerCase().replace(/[^a-z_]/g, "");
  }

  function statusBadge(status, testid) {
    return h("span", { class: statusClass(status), "data-testid": testid || null, text: status });
  }

  const SYMBOLS = {
    SUCCEEDED: "✓", FAILED: "✗", TIMED_OUT: "⏱", STOPPED: "■", CANCELLED: "⊘",
    STARTED: "…", RUNNING: "…", PENDING: "↻", READY: "…",
  };

  // ------------------------------------------------------------------ HTTP

  async function api(path, params) {
    const url = new URL(path, window.location.origin);
    for (const [key, value] of Object.entries(params || {})) {
      if (value !== null && value !== undefined && value !== "") url.searchParams.set(key, value);
    }
    const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    return answer(response);
  }

  async function post(path, body) {
    const response = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Durable-Exec-Token": TOKEN },
      body: JSON.stringify(body),
    });
    return answer(response);
  }

  async function answer(response) {
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      const message = data && data.error ? data.error.message : "HTTP " + response.status;
      const error = new Error(message);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  // ------------------------------------------------------------------ routing

  function parseHash() {
    const hash = window.location.hash.replace(/^#/, "") || "/";
    const [path, search] = hash.split("?", 2);
    const query = new URLSearchParams(search || "");
    if (path === "/execution" && query.get("arn")) {
      return { page: "execution", arn: query.get("arn"), op: query.get("op") };
    }
    return { page: "list", query };
  }

  function listHash(query) {
    const text = query.toString();
    return "#/" + (text ? "?" + text : "");
  }

  function executionHash(arn, op) {
    const query = new URLSearchParams({ arn });
    if (op) query.set("op", op);
    return "#/execution?" + query.toString();
  }

  function route() {
    state.generation += 1;
    const next = parseHash();
    const previous = state.route;
    state.route = next;
    if (next.page === "execution") {
      const same = previous && previous.page === "execution" && previous.arn === next.arn;
      if (!same) {
        state.execution = {
          data: null, arn: next.arn, selected: next.op || null, expanded: new Set(),
          collapsed: new Set(), scale: state.execution.scale, forms: new Map(), jobSeen: 0,
        };
        showLoading();
        loadExecution();
      } else {
        state.execution.selected = next.op || null;
        if (state.execution.data) renderExecution();
      }
    } else {
      const same = previous && previous.page === "list" && previous.query.toString() === next.query.toString();
      if (!same) state.list = { cursors: [null], index: 0, data: null };
      showLoading();
      loadList();
    }
  }

  function showLoading() {
    append(clear(document.getElementById("main")), h("p", { class: "loading", text: "Loading…" }));
  }

  function showError(error) {
    const main = clear(document.getElementById("main"));
    append(
      main,
      h("nav", { class: "crumbs" }, h("a", { href: "#/", text: "Executions" })),
      h("p", { class: "notice error", "data-testid": "page-error", text: error.message })
    );
  }

  // ------------------------------------------------------------------ live updates

  function schedulePoll() {
    clearTimeout(state.pollTimer);
    state.pollTimer = setTimeout(poll, POLL_MS);
  }

  function setLive(mode, text) {
    const live = document.getElementById("live");
    live.className = "live " + mode;
    live.querySelector(".live-text").textContent = text;
  }

  async function poll() {
    if (document.hidden) {
      setLive("paused", "paused");
      schedulePoll();
      return;
    }
    const generation = state.generation;
    const params = { since: state.seq };
    if (state.route && state.route.page === "execution" && state.execution.data) {
      params.arn = state.execution.data.execution.arn;
    }
    try {
      const result = await api("/api/poll", params);
      state.pollFailures = 0;
      setLive("on", "live");
      if (generation === state.generation) {
        if (params.arn && result.jobs) updateJobs(result.jobs);
        if (result.changed) {
          if (state.route.page === "execution") await loadExecution(true);
          else await loadList(true);
        } else if (result.seq > state.seq && !params.arn) {
          state.seq = result.seq;
        }
      }
    } catch (error) {
      state.pollFailures += 1;
      setLive("off", error.status === 401 ? "session ended" : "console unreachable");
    }
    schedulePoll();
  }

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) poll();
  });

  // ------------------------------------------------------------------ list page

  async function loadList(quiet) {
    const generation = state.generation;
    const query = state.route.query;
    const params = {
      status: query.get("status") || "",
      name: query.get("name") || "",
      function: query.get("function") || "",
      search: query.get("search") || "",
      order: query.get("order") || "",
      limit: query.get("limit") || "50",
      cursor: state.list.cursors[state.list.index] || "",
    };
    try {
      const [data, waiting] = await Promise.all([
        api("/api/executions", params),
        api("/api/callbacks", { limit: 10 }),
      ]);
      if (generation !== state.generation) return;
      data.waiting = waiting;
      state.list.data = data;
      state.seq = Math.max(state.seq, data.seq);
      renderList(quiet);
      if (!quiet && window.performance && performance.mark) performance.mark("durable-exec:list-drawn");
    } catch (error) {
      if (generation !== state.generation) return;
      if (quiet) setLive("off", error.message);
      else showError(error);
    }
  }

  function setQuery(changes) {
    const query = new URLSearchParams(state.route.query.toString());
    for (const [key, value] of Object.entries(changes)) {
      if (value) query.set(key, value);
      else query.delete(key);
    }
    window.location.hash = listHash(query);
  }

  function filterBar(query) {
    const statusSelect = h(
      "select",
      { "aria-label": "status", "data-testid": "filter-status", onchange: (e) => setQuery({ status: e.target.value }) },
      h("option", { value: "", text: "any status" }),
      STATUSES.map((s) => h("option", { value: s, text: s.toLowerCase().replace("_", " "), selected: query.get("status") === s }))
    );
    const textInput = (key, placeholder, testid) => {
      const input = h("input", {
        type: "search", placeholder, value: query.get(key) || "", "aria-label": placeholder,
        "data-testid": testid, spellcheck: "false", autocomplete: "off",
      });
      let timer = null;
      input.addEventListener("input", () => {
        clearTimeout(timer);
        timer = setTimeout(() => setQuery({ [key]: input.value.trim() }), 350);
      });
      input.addEventListener("keydown", (e) => {
        if (e.key === "Enter") {
          clearTimeout(timer);
          setQuery({ [key]: input.value.trim() });
        }
      });
      return input;
    };
    const order = h(
      "select",
      { "aria-label": "order", onchange: (e) => setQuery({ order: e.target.value === "oldest" ? "oldest" : "" }) },
      h("option", { value: "", text: "newest first" }),
      h("option", { value: "oldest", text: "oldest first", selected: query.get("order") === "oldest" })
    );
    const size = h(
      "select",
      { "aria-label": "page size", onchange: (e) => setQuery({ limit: e.target.value === "50" ? "" : e.target.value }) },
      PAGE_SIZES.map((n) => h("option", { value: String(n), text: n + " a page", selected: String(n) === (query.get("limit") || "50") }))
    );
    return h(
      "div",
      { class: "filters" },
      statusSelect,
      textInput("name", "name starts with…", "filter-name"),
      textInput("function", "function", "filter-function"),
      textInput("search", "search name, function, ARN", "filter-search"),
      order,
      size
    );
  }

  function pager(data) {
    const list = state.list;
    const limit = Number(state.route.query.get("limit") || 50);
    const first = list.index * limit + 1;
    const last = list.index * limit + data.executions.length;
    const prev = h("button", {
      class: "small", "data-testid": "page-prev", disabled: list.index === 0,
      onclick: () => { list.index -= 1; loadList(); },
      text: "← newer",
    });
    const next = h("button", {
      class: "small", "data-testid": "page-next", disabled: !data.next_cursor,
      onclick: () => {
        list.cursors[list.index + 1] = data.next_cursor;
        list.index += 1;
        loadList();
      },
      text: "older →",
    });
    if (state.route.query.get("order") === "oldest") {
      prev.textContent = "← older";
      next.textContent = "newer →";
    }
    return h(
      "div",
      { class: "pager" },
      h("span", { "data-testid": "list-count", text: data.total === 0 ? "no executions" : `${first}–${last} of ${data.total.toLocaleString("en-US")}` }),
      prev,
      next
    );
  }

  function renderList(quiet) {
    const data = state.list.data;
    const query = state.route.query;
    const main = document.getElementById("main");
    const focused = document.activeElement;
    const focusedId = focused && focused.dataset ? focused.dataset.testid : null;
    if (quiet && main.querySelector(".filters")) {
      // Keep the filter bar (and what is being typed); redraw the rest only.
      const table = main.querySelector(".table-area");
      const waiting = main.querySelector(".waiting-area");
      const head = main.querySelector(".page-head");
      if (table && waiting && head) {
        append(clear(table), listTable(data, query));
        append(clear(waiting), waitingPanel(data.waiting));
        head.replaceChild(pager(data), head.querySelector(".pager"));
        return;
      }
    }
    clear(main);
    append(
      main,
      h("div", { class: "page-head" }, h("h1", { text: "Executions" }), pager(data)),
      h("div", { class: "waiting-area" }, waitingPanel(data.waiting)),
      filterBar(query),
      h("div", { class: "table-area" }, listTable(data, query))
    );
    if (focusedId) {
      const again = main.querySelector(`[data-testid="${focusedId}"]`);
      if (again) again.focus();
    }
  }

  function waitingPanel(waiting) {
    if (!waiting || !waiting.callbacks.length) return null;
    return h(
      "section",
      { class: "panel callbacks waiting", "data-testid": "waiting-callbacks" },
      h("div", { class: "panel-head" }, h("h2", { text: "Waiting for an answer" }),
        h("span", { class: "muted", text: "open an execution to answer its callbacks" })),
      h(
        "ul",
        { class: "waiting-list" },
        waiting.callbacks.map((cb) =>
          h(
            "li",
            null,
            h("a", { href: executionHash(cb.arn), text: cb.execution_name }),
            " · ",
            h("b", { text: cb.name || "callback" }),
            h("span", { class: "muted", text: " since " + formatTime(cb.started) + " · " + cb.function_name })
          )
        ),
        waiting.more ? h("li", { class: "muted", text: "… and more" }) : null
      )
    );
  }

  function listTable(data, query) {
    if (data.executions.length === 0) {
      const filtered = ["status", "name", "function", "search"].some((k) => query.get(k));
      return h(
        "div",
        { class: "empty" },
        filtered
          ? h("p", { text: "No execution matches these filters." })
          : [
              h("p", { text: "No executions in this store yet. Start one from a terminal:" }),
              h("pre", { class: "command", text: "durable-exec run examples/approval.py:handler --input '{\"request\": \"laptop\", \"manager\": \"ana@example.com\"}'" }),
              h("p", { text: "It appears here as it runs." }),
            ]
      );
    }
    const head = h(
      "thead",
      null,
      h("tr", null, ["status", "name", "function", "started (UTC)", "took", "invocations", "operations", "error"].map((t) => h("th", { text: t })))
    );
    const rows = data.executions.map((item) =>
      h(
        "tr",
        { "data-testid": "execution-row", class: "row-link" },
        h("td", null, statusBadge(item.status)),
        h("td", { class: "name" }, h("a", { href: executionHash(item.arn), "data-testid": "execution-link", text: item.name })),
        h("td", { class: "mono", text: item.function_name }),
        h("td", { class: "mono", text: formatTime(item.start) }),
        h("td", { text: item.end ? formatDuration(item.end - item.start) : item.in_flight ? "running" : "" }),
        h("td", { class: "num", text: item.invocations }),
        h("td", { class: "num", text: item.operations }),
        h("td", { class: "error-cell", title: item.error_message || null },
          item.error_type ? h("b", { text: item.error_type }) : null,
          item.error_message ? " " + item.error_message : "")
      )
    );
    return h("table", { class: "executions", "data-testid": "executions" }, head, h("tbody", null, rows));
  }

  // ------------------------------------------------------------------ execution page

  async function loadExecution(quiet) {
    const generation = state.generation;
    const ex = state.execution;
    try {
      const data = await api("/api/execution", { arn: ex.arn, scale: ex.scale });
      if (generation !== state.generation) return;
      ex.data = data;
      state.seq = Math.max(state.seq, data.seq);
      renderExecution();
    } catch (error) {
      if (generation !== state.generation) return;
      if (quiet) setLive("off", error.message);
      else showError(error);
    }
  }

  function rememberForms() {
    for (const form of document.querySelectorAll("[data-callback]")) {
      const id = form.getAttribute("data-callback");
      state.execution.forms.set(id, {
        payload: form.querySelector(".cb-payload").value,
        message: form.querySelector(".cb-message").value,
        errorType: form.querySelector(".cb-type").value,
      });
    }
  }

  function renderExecution() {
    const ex = state.execution;
    const data = ex.data;
    const main = document.getElementById("main");
    const scroll = window.scrollY;
    const focusedTestid = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.testid : null;
    rememberForms();
    const byId = new Map(data.operations.map((op) => [op.id, op]));
    const execution = data.execution;
    clear(main);
    append(
      main,
      h("nav", { class: "crumbs" }, h("a", { href: "#/", text: "Executions" }), " / ", h("span", { text: execution.name })),
      executionHeader(data),
      jobsArea(data.jobs || []),
      callbacksPanel(data),
      executionPayloads(data),
      h(
        "section",
        { class: "panel ops" },
        h("div", { class: "panel-head" }, h("h2", { text: "Operations" }), h("span", { class: "muted", text: `${data.operations.length} operations, ${data.event_count} events` })),
        h(
          "div",
          { class: "split" },
          operationTree(data, byId),
          h("aside", { class: "detail", id: "detail", "data-testid": "operation-detail" })
        )
      ),
      timelinePanel(data, byId)
    );
    if (ex.selected && byId.has(ex.selected)) showOperation(ex.selected);
    else append(document.getElementById("detail"), h("p", { class: "muted", text: "Select an operation to see its result, error and events." }));
    window.scrollTo(0, scroll);
    if (focusedTestid) {
      const again = main.querySelector(`[data-testid="${focusedTestid}"]`);
      if (again) again.focus();
    }
    document.title = execution.name + " · durable-exec console";
  }

  function executionHeader(data) {
    const e = data.execution;
    const running = e.status === "RUNNING";
    const took = e.end ? formatDuration(e.end - e.start) : running ? formatDuration(e.now - e.start) + " so far" : "";
    const facts = [
      ["function", e.function_name],
      ["started", formatTime(e.start)],
      ["took", took],
      ["invocations", String(e.invocations)],
      ["ARN", e.arn],
    ];
    const actions = h("div", { class: "actions" });
    if (e.resumable) {
      append(
        actions,
        h("button", {
          class: "primary", "data-testid": "resume",
          title: "run `durable-exec resume` on this execution, in a new process",
          onclick: (event) => resume(e, event.target),
          text: "Resume",
        })
      );
    }
    if (running) {
      append(
        actions,
        h("button", {
          class: "danger", "data-testid": "stop", onclick: () => stopExecution(e),
          text: "Stop",
        })
      );
    }
    const links = [];
    if (e.parent) links.push(h("span", null, "started by ", h("a", { href: executionHash(e.parent.arn), text: e.parent.name })));
    if (e.children && e.children.length) {
      links.push(
        h("span", null, "started ", e.children.map((c, i) => [i ? ", " : "", h("a", { href: executionHash(c.arn), text: c.name }), " (", c.status.toLowerCase(), ")"]))
      );
    }
    return h(
      "section",
      { class: "exec-head" },
      h(
        "div",
        { class: "title" },
        statusBadge(e.status, "execution-status"),
        h("h1", { "data-testid": "execution-name", text: e.name }),
        actions
      ),
      h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", { text: k }), h("dd", { class: k === "ARN" ? "mono small" : "", text: v })])),
      links.length ? h("p", { class: "links" }, links.map((l, i) => [i ? " · " : "", l])) : null,
      e.driver ? h("p", { class: "notice", text: "Being driven now by " + e.driver + "." }) : null,
      e.in_flight && !e.driver ? h("p", { class: "notice", text: "An invocation is in flight." }) : null
    );
  }

  function jobsArea(jobs) {
    const area = h("div", { id: "jobs", "data-testid": "jobs" });
    fillJobs(area, jobs);
    return area;
  }

  const OUTCOME_TEXT = {
    succeeded: "the execution succeeded",
    failed: "the execution failed",
    waiting: "the execution is waiting (for a callback, or a timer)",
    error: "resume could not run (see its output)",
    interrupted: "interrupted",
    terminated: "stopped",
  };

  function fillJobs(area, jobs) {
    clear(area);
    const shown = jobs.slice(0, 3);
    for (const job of shown) {
      const text = job.running
        ? `resume (job ${job.id}) running…`
        : `resume (job ${job.id}) ended: ${OUTCOME_TEXT[job.outcome] || job.outcome} (exit ${job.exit_code})`;
      append(
        area,
        h(
          "details",
          { class: "job " + (job.running ? "running" : job.outcome), "data-testid": "job" },
          h("summary", { text }),
          h("pre", { class: "output", text: job.output || "(no output yet)" })
        )
      );
    }
  }

  function updateJobs(jobs) {
    const area = document.getElementById("jobs");
    if (!area) return;
    const before = JSON.stringify((state.execution.data && state.execution.data.jobs) || []);
    const after = JSON.stringify(jobs);
    if (before === after) return;
    if (state.execution.data) state.execution.data.jobs = jobs;
    const open = new Set(Array.from(area.querySelectorAll("details[open]")).map((d) => d.querySelector("summary").textContent));
    fillJobs(area, jobs);
    for (const d of area.querySelectorAll("details")) {
      if (open.has(d.querySelector("summary").textContent)) d.open = true;
    }
    const finished = jobs.find((j) => !j.running && j.id > state.execution.jobSeen);
    if (finished) {
      state.execution.jobSeen = finished.id;
      toast(`resume ended: ${OUTCOME_TEXT[finished.outcome] || finished.outcome}`, finished.outcome === "error" ? "error" : "info");
      loadExecution(true);
    }
  }

  async function resume(execution, button) {
    button.disabled = true;
    try {
      const result = await post("/api/resume", { arn: execution.arn });
      state.execution.jobSeen = Math.max(state.execution.jobSeen, result.job.id - 1);
      toast("resuming " + execution.name + "…");
      updateJobs([result.job, ...((state.execution.data && state.execution.data.jobs) || [])]);
    } catch (error) {
      toast(error.message, "error");
    } finally {
      button.disabled = false;
    }
  }

  async function stopExecution(execution) {
    if (!window.confirm("Stop " + execution.name + "? It ends as STOPPED and cannot be resumed.")) return;
    try {
      await post("/api/stop", { arn: execution.arn });
      toast("stopped " + execution.name);
      loadExecution(true);
    } catch (error) {
      toast(error.message, "error");
    }
  }

  function callbacksPanel(data) {
    if (!data.callbacks.length) return null;
    const forms = data.callbacks.map((cb) => {
      const saved = state.execution.forms.get(cb.callback_id) || { payload: "", message: "", errorType: "" };
      const payload = h("textarea", {
        class: "cb-payload", rows: "2", spellcheck: "false", "data-testid": "callback-payload",
        placeholder: "result, sent as it is (e.g. approved, or JSON such as {\"ok\": true})",
        "aria-label": "result payload",
      });
      payload.value = saved.payload;
      const message = h("input", { class: "cb-message", type: "text", placeholder: "failure message", "aria-label": "failure message", "data-testid": "callback-message" });
      message.value = saved.message;
      const errorType = h("input", { class: "cb-type", type: "text", placeholder: "CallbackFailed", "aria-label": "error type" });
      errorType.value = saved.errorType;
      const ref = cb.ref || cb.callback_id;
      const send = async (action, button) => {
        const body = { callback: cb.callback_id, action };
        if (action === "succeed") body.payload = payload.value;
        if (action === "fail") {
          body.payload = message.value;
          if (errorType.value.trim()) body.error_type = errorType.value.trim();
        }
        button.disabled = true;
        try {
          await post("/api/callback", body);
          state.execution.forms.delete(cb.callback_id);
          const hint = action === "heartbeat" ? "" : data.execution.resumable ? " Resume the execution to continue it." : "";
          toast(`callback ${cb.name || ""} ${action === "heartbeat" ? "heartbeat sent" : action === "succeed" ? "succeeded" : "failed"}.${hint}`);
          await loadExecution(true);
        } catch (error) {
          toast(error.message, "error");
        } finally {
          button.disabled = false;
        }
      };
      return h(
        "div",
        { class: "callback", "data-callback": cb.callback_id, "data-testid": "callback" },
        h(
          "div",
          { class: "cb-head" },
          h("b", { text: cb.name || "callback" }),
          h("span", { class: "muted", text: " waiting since " + formatTime(cb.started) }),
          h("code", { class: "small ref", title: cb.callback_id, text: ref })
        ),
        h(
          "div",
          { class: "cb-row" },
          payload,
          h("button", { class: "primary", "data-testid": "callback-succeed", onclick: (e) => send("succeed", e.target), text: "Succeed" })
        ),
        h(
          "div",
          { class: "cb-row" },
          message,
          errorType,
          h("button", { class: "danger", "data-testid": "callback-fail", onclick: (e) => send("fail", e.target), text: "Fail" }),
          h("button", { "data-testid": "callback-heartbeat", onclick: (e) => send("heartbeat", e.target), text: "Heartbeat" })
        )
      );
    });
    return h(
      "section",
      { class: "panel callbacks", "data-testid": "callbacks" },
      h("div", { class: "panel-head" }, h("h2", { text: "Waiting for callbacks" }), h("span", { class: "muted", text: "The payload is sent as it is; the handler's serdes reads it (plain text arrives as a string)." })),
      forms
    );
  }

  function executionPayloads(data) {
    const e = data.execution;
    const blocks = [];
    if (e.input) blocks.push(h("div", null, h("h3", { text: "Input" }), payloadView(e.input, { arn: e.arn, field: "input" }, "execution-input")));
    if (e.result) blocks.push(h("div", null, h("h3", { text: "Result" }), payloadView(e.result, { arn: e.arn, field: "result" }, "execution-result")));
    if (e.error) blocks.push(h("div", null, h("h3", { text: "Error" }), errorView(e.error, { arn: e.arn }, "execution-error")));
    const invocationErrors = (data.invocation_errors || []).filter(Boolean);
    if (invocationErrors.length) {
      blocks.push(
        h(
          "div",
          null,
          h("h3", { text: `Invocations that raised (${invocationErrors.length}; Lambda retried them)` }),
          invocationErrors.slice(-5).map((err) => errorView(err, null, "invocation-error"))
        )
      );
    }
    if (!blocks.length) return null;
    return h("section", { class: "panel payloads" }, blocks);
  }

  function payloadView(block, source, testid) {
    const pre = h("pre", { class: "payload" + (block.json ? " json" : ""), "data-testid": testid || null, text: block.text });
    if (!block.truncated) return pre;
    const more = h("button", { class: "small link", "data-testid": "expand", text: `show all (${block.size.toLocaleString("en-US")} characters)` });
    let full = null;
    let expanded = false;
    more.addEventListener("click", async () => {
      if (!expanded) {
        if (full === null) {
          more.disabled = true;
          try {
            full = (await api("/api/payload", source)).text;
          } catch (error) {
            toast(error.message, "error");
            more.disabled = false;
            return;
          }
          more.disabled = false;
        }
        pre.textContent = full;
        more.textContent = "show less";
        pre.classList.add("expanded");
      } else {
        pre.textContent = block.text;
        more.textContent = `show all (${block.size.toLocaleString("en-US")} characters)`;
        pre.classList.remove("expanded");
      }
      expanded = !expanded;
    });
    return h("div", { class: "payload-wrap" }, pre, h("div", { class: "cut" }, h("span", { class: "muted", text: "cut at " + block.text.length.toLocaleString("en-US") + " characters " }), more));
  }

  function errorView(error, source, testid) {
    return h(
      "div",
      { class: "error-box", "data-testid": testid || null },
      h("p", null, h("b", { class: "error-type", text: error.type || "Error" }), error.message ? ": " : "", h("span", { class: "error-message", text: error.message || "" })),
      error.data ? [h("h4", { text: "data" }), payloadView(error.data, source ? { ...source, field: "error" } : null)] : null,
      error.stack_trace
        ? h("details", { class: "trace", open: true }, h("summary", { text: "stack trace" }), h("pre", { class: "stack", "data-testid": "stack-trace", text: error.stack_trace }))
        : null
    );
  }

  // ---------------------------------------------------------------- the tree

  function visibleChildren(parentKey, ids) {
    const ex = state.execution;
    if (ids.length <= COLLAPSE_AFTER + 1 || ex.expanded.has(parentKey)) return { shown: ids, hidden: 0 };
    return { shown: ids.slice(0, COLLAPSE_AFTER), hidden: ids.length - COLLAPSE_AFTER };
  }

  function opDuration(op) {
    if (op.start === null || op.start === undefined) return "";
    if (op.end !== null && op.end !== undefined) return formatDuration(op.end - op.start);
    return "";
  }

  function operationTree(data, byId) {
    const ex = state.execution;
    const origin = data.execution.start;
    const build = (ids, parentKey) => {
      const { shown, hidden } = visibleChildren(parentKey, ids);
      const list = h("ul", { class: "tree" });
      for (const id of shown) {
        const op = byId.get(id);
        if (!op) continue;
        const hasChildren = op.children.length > 0;
        const folded = ex.collapsed.has(id);
        const toggle = hasChildren
          ? h("button", {
              class: "twisty", "aria-label": folded ? "expand" : "collapse", "aria-expanded": String(!folded),
              onclick: (e) => {
                e.stopPropagation();
                if (ex.collapsed.has(id)) ex.collapsed.delete(id);
                else ex.collapsed.add(id);
                renderExecution();
              },
              text: folded ? "▸" : "▾",
            })
          : h("span", { class: "twisty-space" });
        const row = h(
          "div",
          {
            class: "op-row" + (ex.selected === id ? " selected" : ""), "data-testid": "operation", "data-op": id,
            tabindex: "0", role: "button",
            onclick: () => select(id),
            onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); select(id); } },
          },
          toggle,
          h("span", { class: "sym " + statusClass(op.status), text: SYMBOLS[op.status] || "·" }),
          h("span", { class: "op-label", text: op.label }),
          h("span", { class: "badge", text: (op.sub_type || op.type).replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase() }),
          h("span", { class: "op-status " + statusClass(op.status), text: op.status.toLowerCase().replace("_", " ") }),
          op.attempts > 1 ? h("span", { class: "attempts", text: op.attempts + " attempts" }) : null,
          h("span", { class: "when muted", text: offset(op.start, origin) }),
          h("span", { class: "took", text: opDuration(op) }),
          op.error_type ? h("span", { class: "op-error", text: op.error_type + (op.error_message ? ": " + op.error_message : "") }) : null,
          !op.error_type && op.preview !== null ? h("span", { class: "preview mono", text: "→ " + op.preview }) : null,
          op.type === "CALLBACK" && op.status === "STARTED" ? h("span", { class: "preview", text: "waiting for an answer" }) : null,
          op.child_arn ? h("a", { href: executionHash(op.child_arn), class: "small", onclick: (e) => e.stopPropagation(), text: "child execution →" }) : null
        );
        const item = h("li", null, row);
        if (hasChildren && !folded) append(item, build(op.children, id));
        list.appendChild(item);
      }
      if (hidden) {
        list.appendChild(
          h("li", null, h("button", {
            class: "small link more", "data-testid": "show-more",
            onclick: () => { ex.expanded.add(parentKey); renderExecution(); },
            text: `… ${hidden} more (show all)`,
          }))
        );
      }
      return list;
    };
    if (!data.roots.length) return h("div", { class: "tree-box", "data-testid": "operation-tree" }, h("p", { class: "muted", text: "No operations yet." }));
    return h("div", { class: "tree-box", "data-testid": "operation-tree" }, build(data.roots, "<root>"));
  }

  function select(id) {
    const ex = state.execution;
    ex.selected = id;
    history.replaceState(null, "", executionHash(ex.arn, id));
    for (const row of document.querySelectorAll(".op-row.selected, .lane-label.selected")) row.classList.remove("selected");
    for (const row of document.querySelectorAll(`[data-op="${CSS.escape(id)}"]`)) row.classList.add("selected");
    showOperation(id);
  }

  async function showOperation(id) {
    const ex = state.execution;
    const detail = document.getElementById("detail");
    if (!detail) return;
    const generation = state.generation;
    let op;
    try {
      op = await api("/api/operation", { arn: ex.data.execution.arn, id });
    } catch (error) {
      clear(detail);
      append(detail, h("p", { class: "notice error", text: error.message }));
      return;
    }
    if (generation !== state.generation || ex.selected !== id) return;
    const target = document.getElementById("detail");
    if (!target) return;
    clear(target);
    const origin = ex.data.execution.start;
    const facts = [
      ["type", op.sub_type ? `${op.type} (${op.sub_type})` : op.type],
      ["status", op.status],
      ["id", op.id],
      ["started", op.start ? `${formatTime(op.start)} (${offset(op.start, origin)})` : ""],
      ["ended", op.end ? `${formatTime(op.end)} (took ${formatDuration(op.end - op.start)})` : ""],
      ["attempts", op.attempts ? String(op.attempts) : ""],
      ["callback", op.callback_id || ""],
      ["function", op.function_name || ""],
    ].filter(([, v]) => v);
    append(
      target,
      h("h3", { "data-testid": "detail-title", text: op.label }),
      h("dl", { class: "facts small" }, facts.map(([k, v]) => [h("dt", { text: k }), h("dd", { class: k === "id" || k === "callback" ? "mono" : "", text: v })])),
      op.child_arn ? h("p", null, h("a", { href: executionHash(op.child_arn), text: "open the child execution →" })) : null,
      op.input ? [h("h4", { text: "input" }), payloadView(op.input, { arn: ex.data.execution.arn, id: op.id, field: "input" }, "operation-input")] : null,
      op.result ? [h("h4", { text: "result" }), payloadView(op.result, { arn: ex.data.execution.arn, id: op.id, field: "result" }, "operation-result")] : null,
      op.error ? [h("h4", { text: "error" }), errorView(op.error, { arn: ex.data.execution.arn, id: op.id }, "operation-error")] : null,
      h("details", { class: "events" }, h("summary", { text: `history events (${op.events.length})` }), h("pre", { class: "payload", text: JSON.stringify(op.events, null, 2) }))
    );
  }

  // ---------------------------------------------------------------- the timeline

  const KIND_TEXT = {
    attempt: "attempt", retry: "retry delay", wait: "wait", callback: "waiting for callback",
    context: "context", invoke: "chained invoke",
  };

  function timelineRows(data, byId) {
    const ex = state.execution;
    const rows = [];
    const walk = (ids, depth, parentKey) => {
      const { shown, hidden } = visibleChildren(parentKey, ids);
      for (const id of shown) {
        const op = byId.get(id);
        if (!op) continue;
        rows.push({ op, depth });
        if (op.children.length && !ex.collapsed.has(id)) walk(op.children, depth + 1, id);
      }
      if (hidden) rows.push({ more: hidden, depth, parentKey });
    };
    walk(data.roots, 0, "<root>");
    return rows;
  }

  function segmentTitle(op, seg, origin) {
    const parts = [op.label, KIND_TEXT[seg.kind] + (seg.attempt ? " " + seg.attempt : "")];
    parts.push(seg.status.toLowerCase().replace("_", " "));
    parts.push("from " + offset(seg.start, origin));
    if (seg.end !== null && seg.end !== undefined) parts.push("took " + formatDuration(seg.end - seg.start));
    else if (seg.due) parts.push("due " + offset(seg.due, origin));
    if (seg.error_type) parts.push(seg.error_type);
    return parts.join(" · ");
  }

  function timelinePanel(data, byId) {
    const ex = state.execution;
    const tl = data.timeline;
    const origin = tl.start;
    const pct = (x) => (x * 100).toFixed(4) + "%";
    const axis = h("div", { class: "track axis" });
    const bands = [];
    for (const piece of tl.pieces) {
      const width = piece.x1 - piece.x0;
      if (piece.kind === "invocation") {
        const band = h("div", {
          class: "band" + (piece.error ? " failed" : "") + (piece.running ? " running" : ""),
          title: `invocation ${piece.index}: ${formatTime(piece.start)}, ${formatDuration(piece.end - piece.start)}${piece.error ? " · raised " + (piece.error.ErrorType || "an error") : ""}${piece.running ? " · running" : ""}`,
        });
        band.style.left = pct(piece.x0);
        band.style.width = pct(width);
        bands.push(band);
        const label = h("div", { class: "piece inv", text: "#" + piece.index, title: band.title });
        label.style.left = pct(piece.x0);
        label.style.width = pct(width);
        axis.appendChild(label);
      } else if (piece.end - piece.start > 0 && width > 0.03) {
        const label = h("div", { class: "piece gap", text: formatDuration(piece.end - piece.start), title: `between invocations: ${formatDuration(piece.end - piece.start)}` });
        label.style.left = pct(piece.x0);
        label.style.width = pct(width);
        axis.appendChild(label);
      }
    }
    const grid = h("div", { class: "gantt", "data-testid": "timeline" });
    append(grid, h("div", { class: "lane-label head", text: "invocations →" }), axis);
    for (const row of timelineRows(data, byId)) {
      if (row.more) {
        const label = h("div", { class: "lane-label more" }, h("button", {
          class: "small link", onclick: () => { ex.expanded.add(row.parentKey); renderExecution(); },
          text: `… ${row.more} more`,
        }));
        label.style.paddingLeft = 6 + row.depth * 14 + "px";
        append(grid, label, h("div", { class: "track" }));
        continue;
      }
      const op = row.op;
      const label = h("div", {
        class: "lane-label" + (ex.selected === op.id ? " selected" : ""), "data-op": op.id, title: op.label,
        onclick: () => select(op.id),
      }, h("span", { class: "sym " + statusClass(op.status), text: SYMBOLS[op.status] || "·" }), " ", op.label);
      label.style.paddingLeft = 6 + row.depth * 14 + "px";
      const track = h("div", { class: "track", onclick: () => select(op.id) });
      for (const band of bands) track.appendChild(band.cloneNode(false));
      for (const seg of tl.lanes[op.id] || []) {
        const open = seg.end === null || seg.end === undefined;
        const bar = h("div", {
          class: `bar k-${seg.kind} ${statusClass(seg.status)}${open ? " open" : ""}`,
          "data-testid": "timeline-bar",
          title: segmentTitle(op, seg, origin),
        });
        bar.style.left = pct(seg.x0);
        bar.style.width = pct(Math.max(0, seg.x1 - seg.x0));
        track.appendChild(bar);
      }
      append(grid, label, track);
    }
    const scaleButtons = ["compact", "linear"].map((scale) =>
      h("button", {
        class: "small" + (ex.scale === scale ? " active" : ""), "aria-pressed": String(ex.scale === scale),
        onclick: () => { ex.scale = scale; loadExecution(true); },
        text: scale,
      })
    );
    const legend = h(
      "div",
      { class: "legend" },
      ["attempt", "retry", "wait", "callback", "context", "invoke"].map((kind) =>
        h("span", null, h("i", { class: "bar k-" + kind + (kind === "attempt" ? " s-succeeded" : "") }), KIND_TEXT[kind])
      ),
      h("span", null, h("i", { class: "bar k-attempt s-failed" }), "failed attempt"),
      h("span", null, h("i", { class: "band-key" }), "invocation")
    );
    return h(
      "section",
      { class: "panel timeline" },
      h(
        "div",
        { class: "panel-head" },
        h("h2", { text: "Timeline" }),
        h("span", { class: "muted", text: `${formatDuration(tl.end - tl.start)} · ${tl.pieces.filter((p) => p.kind === "invocation").length} invocations` }),
        h("span", { class: "scale", title: "compact: long gaps shrink, instants get room; linear: true proportions" }, "scale ", scaleButtons)
      ),
      grid,
      legend
    );
  }

  // ------------------------------------------------------------------ start

  async function showStore() {
    try {
      const info = await api("/api/info");
      const store = document.getElementById("store");
      store.textContent = info.store;
      store.title = "store: " + info.store + " (" + info.store_found + "), durable-exec " + info.version;
    } catch (error) {
      setLive("off", error.message);
    }
  }

  function start() {
    window.addEventListener("hashchange", route);
    route();
    showStore();
    schedulePoll();
  }

  start();
})();
