// Progressive enhancement: times in the viewer's time zone (UTC on hover),
// and the incident page kept live over Server-Sent Events. Without
// JavaScript every page still works: forms post and pages reload.
(function () {
  "use strict";
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (t) {
      if (t.dataset.local) return;
      var d = new Date(t.getAttribute("datetime"));
      if (isNaN(d)) return;
      t.title = t.getAttribute("datetime").replace("T", " ").replace(/\.\d+/, "") + " UTC";
      t.textContent = d.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
      t.dataset.local = "1";
    });
  }
  localTimes(document);

  var live = document.querySelector("[data-live]");
  if (!live || !window.EventSource) return;
  var source = new EventSource(live.getAttribute("data-live"));
  var timeline = document.getElementById("timeline");
  source.addEventListener("entry", function (e) {
    var data = JSON.parse(e.data);
    if (timeline && data.html && !document.getElementById("entry-" + data.seq)) {
      var filter = timeline.getAttribute("data-filter");
      if (!filter || filter.split(",").indexOf(data.kind) >= 0) {
        timeline.insertAdjacentHTML("beforeend", data.html);
        localTimes(timeline);
      }
    }
    ["topic", "status", "priority"].forEach(function (k) {
      var el = document.getElementById(k);
      if (el && data[k] !== undefined) el.textContent = data[k];
      // Keep the controls in step, unless someone is using them.
      var select = document.querySelector("select[name=" + k + "]");
      if (select && data[k] !== undefined && document.activeElement !== select) select.value = data[k];
    });
    var badge = document.getElementById("priority");
    if (badge && data.priority) badge.className = "badge " + data.priority;
    var board = document.getElementById("board");
    if (board && data.board) { board.innerHTML = data.board; localTimes(board); }
  });
})();
