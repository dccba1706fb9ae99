// Refreshes job statuses on the dashboard (and a job's page) while some shown job is queued
// or running, by polling the page's JSON feed; it stops as soon as none is.
(function () {
  "use strict";
  var table = document.getElementById("jobs-table");
  if (!table) { return; }
  var script = document.currentScript;
  var reloadOnChange = script && script.getAttribute("data-reload-on-change") === "1";
  var url = table.getAttribute("data-status-url");
  var ACTIVE = { queued: true, running: true };
  var INTERVAL_MS = 3000;

  function rows() { return Array.prototype.slice.call(table.querySelectorAll("tr[data-job-id]")); }
  function activeIds() {
    return rows().filter(function (r) { return ACTIVE[r.getAttribute("data-status")]; })
      .map(function (r) { return r.getAttribute("data-job-id"); });
  }

  function apply(jobs) {
    var changed = false;
    jobs.forEach(function (job) {
      var row = table.querySelector('tr[data-job-id="' + job.id + '"]');
      if (!row || row.getAttribute("data-status") === job.status) { return; }
      changed = true;
      row.setAttribute("data-status", job.status);
      var cell = row.querySelector(".job-status");
      if (cell) { cell.textContent = job.status; cell.className = "job-status status-" + job.status; }
      var attempts = row.querySelector(".job-attempts");
      if (attempts) { attempts.textContent = String(job.attempts); }
    });
    if (changed && reloadOnChange) { window.location.reload(); }
  }

  function poll() {
    var ids = activeIds();
    if (!ids.length) {
      var note = document.getElementById("refresh-note");
      if (note) { note.textContent = ""; }
      return;
    }
    fetch(url + "?ids=" + encodeURIComponent(ids.join(",")), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) { apply(data.jobs); } })
      .catch(function () { /* offline for a moment: try again next tick */ })
      .then(function () { window.setTimeout(poll, INTERVAL_MS); });
  }

  if (activeIds().length) { window.setTimeout(poll, INTERVAL_MS); }
})();
