// Canopy portal: progressive enhancement only; every page also works with JavaScript off.
// - form[data-progress]: uploads with a progress bar (and a drop zone), errors swapped in place;
// - figure[data-chart-url]: live uPlot charts from {"times": [...], "series": [{"label", "values"}]};
// - [data-refresh]: an element re-read from its page every N seconds (deploy progress, command state);
// - button[data-confirm]: asks before a destructive action.
(function () {
  "use strict";

  var csrf = document.body.getAttribute("data-csrf") || "";

  function swapMain(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("main");
    var main = document.getElementById("main");
    if (fresh && main) {
      main.replaceWith(fresh);
      enhance(fresh);
    }
  }

  function enhanceDropZone(form) {
    var zone = form.querySelector("[data-dropzone]");
    var input = form.querySelector("input[type=file]");
    if (!zone || !input) return;
    zone.addEventListener("dragover", function (event) {
      event.preventDefault();
      zone.classList.add("over");
    });
    zone.addEventListener("dragleave", function () { zone.classList.remove("over"); });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      zone.classList.remove("over");
      input.files = event.dataTransfer.files;
      input.dispatchEvent(new Event("change"));
    });
    input.addEventListener("change", function () {
      var label = zone.querySelector("[data-file-name]");
      if (label && input.files.length) label.textContent = input.files[0].name;
    });
  }

  function enhanceUpload(form) {
    enhanceDropZone(form);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var bar = form.querySelector("progress");
      if (!bar) {
        bar = document.createElement("progress");
        bar.max = 1;
        form.appendChild(bar);
      }
      bar.value = 0;
      bar.hidden = false;
      var request = new XMLHttpRequest();
      request.open("POST", form.action);
      request.setRequestHeader("X-CSRF-Token", csrf);
      request.upload.addEventListener("progress", function (progress) {
        if (progress.lengthComputable) bar.value = progress.loaded / progress.total;
      });
      request.addEventListener("load", function () {
        // A redirect (post/redirect/get) is followed; a page answered in place (an error next to
        // the field, or a one-time result such as new credentials) replaces the form's page.
        if (request.status < 400 && request.responseURL !== form.action) window.location.assign(request.responseURL);
        else swapMain(request.responseText);
      });
      request.addEventListener("error", function () {
        bar.hidden = true;
        window.alert("The upload failed: the connection to the portal was lost.");
      });
      request.send(new FormData(form));
    });
  }

  function chartOptions(figure, data) {
    var series = [{}];
    data.series.forEach(function (one) { series.push({ label: one.label, stroke: one.color || "#2b7a78" }); });
    return { width: Math.max(figure.clientWidth, 320), height: 220, series: series };
  }

  function startChart(figure) {
    if (typeof window.uPlot !== "function") return;
    var url = figure.getAttribute("data-chart-url");
    var seconds = Number(figure.getAttribute("data-chart-interval") || "2");
    var plot = null;
    function refresh() {
      if (!figure.isConnected) return;
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (reply) { return reply.ok ? reply.json() : null; })
        .then(function (data) {
          if (!data) return;
          var rows = [data.times].concat(data.series.map(function (one) { return one.values; }));
          if (!plot || plot.series.length !== rows.length) {
            if (plot) plot.destroy();
            plot = new window.uPlot(chartOptions(figure, data), rows, figure);
          } else {
            plot.setData(rows);
          }
          figure.setAttribute("data-points", String(data.times.length));
        })
        .catch(function () { /* the next refresh retries */ })
        .then(function () { window.setTimeout(refresh, seconds * 1000); });
    }
    refresh();
  }

  function startRefresh(element) {
    var seconds = Number(element.getAttribute("data-refresh") || "2");
    function refresh() {
      if (!element.isConnected || !element.id) return;
      fetch(window.location.href, { credentials: "same-origin" })
        .then(function (reply) { return reply.ok ? reply.text() : null; })
        .then(function (html) {
          if (!html) return;
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(element.id);
          if (fresh) {
            element.replaceWith(fresh);
            element = fresh;
            enhanceConfirms(fresh);
          }
        })
        .catch(function () { /* the next refresh retries */ })
        .then(function () { window.setTimeout(refresh, seconds * 1000); });
    }
    window.setTimeout(refresh, seconds * 1000);
  }

  function enhance(root) {
    root.querySelectorAll("form[data-progress]").forEach(enhanceUpload);
    root.querySelectorAll("figure[data-chart-url]").forEach(startChart);
    root.querySelectorAll("[data-refresh]").forEach(startRefresh);
    enhanceConfirms(root);
  }

  function enhanceConfirms(root) {
    root.querySelectorAll("button[data-confirm]").forEach(function (button) {
      button.addEventListener("click", function (event) {
        if (!window.confirm(button.getAttribute("data-confirm"))) event.preventDefault();
      });
    });
  }

  document.documentElement.classList.add("js");
  enhance(document);
})();
