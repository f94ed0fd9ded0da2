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

  // Backdating: the picker shows the viewer's local time; send it as UTC.
  document.querySelectorAll("input[type=datetime-local][data-local]").forEach(function (input) {
    var hint = document.getElementById(input.id + "-zone");
    if (hint) hint.textContent = "(your local time)";
    input.form.addEventListener("submit", function () {
      if (!input.value) return;
      var d = new Date(input.value);
      if (isNaN(d)) return;
      input.type = "text";
      input.value = d.toISOString();
    });
  });

  // The communications panel's due times count down, and turn red when
  // overdue; the live stream moves them when an update is published or a
  // reminder snoozed.
  function showDue(el, at) {
    var countdown = el.querySelector(".countdown");
    if (!at) {
      el.dataset.at = "";
      el.classList.remove("overdue");
      el.innerHTML = '<span class="countdown">No update due (no cadence)</span>';
      return;
    }
    if (el.dataset.at !== at || !countdown || !el.querySelector("time")) {
      el.dataset.at = at;
      el.innerHTML = 'Next update due <time datetime="' + at + '"></time> · <span class="countdown"></span>';
      el.querySelector("time").textContent = at;
      localTimes(el);
      countdown = el.querySelector(".countdown");
    }
    var seconds = Math.round((Date.parse(at) - Date.now()) / 1000);
    var late = seconds < 0;
    el.classList.toggle("overdue", late);
    countdown.textContent = late ? Math.floor(-seconds / 60) + " min overdue" : "in " + Math.ceil(seconds / 60) + " min";
  }
  function tickDue() {
    document.querySelectorAll("p.due[data-at]").forEach(function (el) {
      if (el.dataset.at) showDue(el, el.dataset.at);
    });
  }
  tickDue();
  setInterval(tickDue, 15000);

  var live = document.querySelector("[data-live]");
  if (!live || !window.EventSource) return;
  var source = new EventSource(live.getAttribute("data-live"));
  var timeline = document.getElementById("timeline");
  source.addEventListener("entry", function (e) {
    var data = JSON.parse(e.data);
    if (timeline && data.html && !timeline.hasAttribute("data-history") && !document.getElementById("entry-" + data.seq)) {
      var filter = timeline.getAttribute("data-filter");
      if (!filter || filter.split(",").indexOf(data.kind) >= 0) {
        // In time order: a backdated entry goes where it happened.
        var holder = document.createElement("ol");
        holder.innerHTML = data.html;
        var item = holder.firstElementChild;
        var key = function (li) { return [Date.parse(li.dataset.at), Number(li.dataset.seq)]; };
        var mine = key(item);
        var after = Array.prototype.find.call(timeline.children, function (li) {
          var k = key(li);
          return k[0] > mine[0] || (k[0] === mine[0] && k[1] > mine[1]);
        });
        timeline.insertBefore(item, after || null);
        localTimes(timeline);
      }
    }
    ["topic", "status", "priority"].forEach(function (k) {
      var el = document.getElementById(k);
      if (el && data[k] !== undefined) el.textContent = data[k];
      // Keep a control in step only while it still shows what the server
      // last said: a choice someone made but did not submit stays theirs.
      var select = document.querySelector("select[name=" + k + "]");
      var was = document.querySelector("input[name=was_" + k + "]");
      if (select && was && data[k] !== undefined && select.value === was.value) {
        select.value = data[k];
        was.value = data[k];
      }
    });
    if (data.due) {
      Object.keys(data.due).forEach(function (audience) {
        var el = document.getElementById("due-" + audience);
        if (el) showDue(el, data.due[audience] ? data.due[audience].at : "");
      });
    }
    var badge = document.getElementById("priority");
    if (badge && data.priority) badge.className = "badge " + data.priority;
    // The customer reports panel: the same for everyone, replaced when it changed.
    var reports = document.getElementById("reports-panel");
    if (reports && typeof data.reports === "string" && data.reports && reports.dataset.html !== data.reports) {
      reports.innerHTML = data.reports;
      reports.dataset.html = data.reports;
      localTimes(reports);
    }
    // The workstreams panel, likewise.
    var workstreams = document.getElementById("workstreams-panel");
    if (workstreams && typeof data.workstreams === "string" && data.workstreams && workstreams.dataset.html !== data.workstreams) {
      workstreams.innerHTML = data.workstreams;
      workstreams.dataset.html = data.workstreams;
      localTimes(workstreams);
    }
    // Rebuild the board only when it changed, and give focus back.
    var board = document.getElementById("board");
    if (board && data.board && board.dataset.html !== data.board) {
      var focused = document.activeElement && board.contains(document.activeElement)
        ? document.activeElement.getAttribute("aria-label") : null;
      board.innerHTML = data.board;
      board.dataset.html = data.board;
      // The server sends every viewer the same board, without anyone's
      // CSRF token: its forms get this page's.
      board.querySelectorAll("input[name=csrf]").forEach(function (input) {
        input.value = live.getAttribute("data-csrf") || "";
      });
      localTimes(board);
      if (focused) {
        var again = board.querySelector("[aria-label='" + focused.replace(/'/g, "\\'") + "']");
        if (again) again.focus();
      }
    }
  });
  // The pages panel and its warnings follow too, replaced when they changed.
  var pagesPanel = function (e) {
    var data = JSON.parse(e.data);
    [["pages", "pages"], ["page-warnings", "page_warnings"]].forEach(function (p) {
      var el = document.getElementById(p[0]);
      if (el && typeof data[p[1]] === "string" && el.dataset.html !== data[p[1]]) {
        el.innerHTML = data[p[1]];
        el.dataset.html = data[p[1]];
        localTimes(el);
      }
    });
  };
  source.addEventListener("entry", pagesPanel);
  // A notification arrived, without a timeline entry: the panel alone.
  source.addEventListener("pages", pagesPanel);
  // A stream the server ended (signed out, expired) does not come back:
  // say so instead of looking live.
  source.addEventListener("error", function () {
    if (source.readyState !== EventSource.CLOSED || document.getElementById("live-lost")) return;
    var note = document.createElement("p");
    note.id = "live-lost";
    note.className = "error";
    note.setAttribute("role", "alert");
    note.textContent = "Live updates stopped. Reload the page to see changes.";
    live.insertBefore(note, live.firstChild);
  });
})();
