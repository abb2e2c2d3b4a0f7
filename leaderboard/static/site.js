// The site's only script: click-to-sort on table headers and the leaderboard's filters. Plain JavaScript with no
// modules or requests, so it runs when a page is opened from disk.
(function () {
  "use strict";

  // Numbers sort by data-value; unmeasured and failed cells (no data-value) always go last.
  function key(cell, text) {
    var raw = cell ? cell.getAttribute("data-value") : null;
    if (raw === null || raw === "") { return null; }
    if (text) { return raw; }
    var number = Number(raw);
    return isNaN(number) ? null : number;
  }
  function compare(a, b) {
    if (a === b) { return 0; }
    if (a === null) { return 1; }
    if (b === null) { return -1; }
    if (typeof a === "string") { return a.localeCompare(b); }
    return a < b ? -1 : 1;
  }
  function sortable(table) {
    var headerRow = table.tHead.rows[table.tHead.rows.length - 1];
    var body = table.tBodies[0];
    Array.prototype.forEach.call(headerRow.cells, function (th, index) {
      var button = th.querySelector("button");
      if (!button) { return; }
      var text = th.getAttribute("data-sort") === "text";
      button.addEventListener("click", function () {
        var current = th.getAttribute("aria-sort");
        // Numbers first sort highest first, names A to Z; a second click reverses.
        var ascending = current ? current === "descending" : text;
        Array.prototype.forEach.call(headerRow.cells, function (other) { other.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (r1, r2) {
          var a = key(r1.cells[index], text);
          var b = key(r2.cells[index], text);
          if (a === null || b === null) { return compare(a, b); }
          return ascending ? compare(a, b) : compare(b, a);
        });
        var fragment = document.createDocumentFragment();
        rows.forEach(function (row) { fragment.appendChild(row); });
        body.appendChild(fragment);
      });
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), sortable);

  // Filters: the task hides other tasks' columns; method and hardware hide rows.
  var table = document.getElementById("leaderboard");
  var taskSelect = document.getElementById("filter-task");
  var methodSelect = document.getElementById("filter-method");
  var hardwareSelect = document.getElementById("filter-hardware");
  var count = document.getElementById("filter-count");
  if (!table || !taskSelect) { return; }
  function apply() {
    var task = taskSelect.value;
    var method = methodSelect.value;
    var hardware = hardwareSelect.value;
    var headRows = table.tHead.rows;
    var columnRow = headRows[headRows.length - 1];
    var hidden = [];
    Array.prototype.forEach.call(columnRow.cells, function (th, index) {
      var columnTask = th.getAttribute("data-task");
      hidden[index] = Boolean(task && columnTask && columnTask !== task);
      th.hidden = hidden[index];
    });
    Array.prototype.forEach.call(headRows[0].cells, function (th) {
      var groupTask = th.getAttribute("data-task");
      th.hidden = Boolean(task && groupTask && groupTask !== task);
    });
    var shown = 0;
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      var visible = (!method || row.getAttribute("data-method") === method) &&
        (!hardware || row.getAttribute("data-hardware") === hardware);
      row.hidden = !visible;
      if (visible) { shown += 1; }
      Array.prototype.forEach.call(row.cells, function (cell, index) { cell.hidden = hidden[index]; });
    });
    count.textContent = shown + " of " + table.tBodies[0].rows.length + " models shown";
  }
  [taskSelect, methodSelect, hardwareSelect].forEach(function (select) { select.addEventListener("change", apply); });
}());
