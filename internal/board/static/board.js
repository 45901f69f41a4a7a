// cds board: sorts the league table in the page when a column heading is
// chosen. Without this script the headings are links that sort on the server.
(function () {
  "use strict";
  var table = document.getElementById("league");
  if (!table || !table.tBodies.length) { return; }
  var heads = table.tHead.rows[0].cells;
  function key(cell, type) {
    var v = cell.getAttribute("data-v");
    if (type === "text") { return (v || "").toLocaleLowerCase(); }
    return v === null || v === "" ? null : parseFloat(v);
  }
  function sortBy(col, dir, type) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[col], type), y = key(b.cells[col], type);
      if (x === null && y === null) { return 0; }
      if (x === null) { return 1; }
      if (y === null) { return -1; }
      var c = type === "text" ? x.localeCompare(y, document.documentElement.lang) : x - y;
      return dir === "asc" ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    for (var i = 0; i < heads.length; i++) { heads[i].setAttribute("aria-sort", i === col ? (dir === "asc" ? "ascending" : "descending") : "none"); }
  }
  Array.prototype.forEach.call(heads, function (th, col) {
    var a = th.querySelector("a.sort");
    if (!a) { return; }
    a.addEventListener("click", function (ev) {
      ev.preventDefault();
      var cur = th.getAttribute("aria-sort");
      var dir = cur === "descending" ? "asc" : cur === "ascending" ? "desc" : (a.getAttribute("data-type") === "text" || col === 0 ? "asc" : "desc");
      sortBy(col, dir, a.getAttribute("data-type"));
      var url = new URL(a.href, location.href);
      url.searchParams.set("dir", dir);
      history.replaceState(null, "", url.pathname + url.search);
      var s = document.getElementById("sorted");
      if (s) {
        s.querySelector("strong").textContent = a.textContent;
        s.querySelector(".dir").textContent = s.getAttribute(dir === "asc" ? "data-asc" : "data-desc");
      }
    });
  });
})();
