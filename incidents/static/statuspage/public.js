// The public page's script. The page is complete without it; with it:
// - times (<time data-localtime>) are shown in the viewer's time zone, the page's zone kept in the title;
// - each component's uptime bars are one tab stop (arrow keys, Home and End move between days; Escape closes
//   a popover; the popovers themselves are CSS, on hover and on focus);
// - `/` refreshes its data every 60 s: a conditional GET of /api/v2/summary.json (If-None-Match), and when it
//   changed, the banner and the components' statuses are updated in place; when the open incidents or the set
//   of components shown changed, those regions are replaced by the server's rendering of them (fetched once,
//   parsed inertly, never built from strings here: user text only ever reaches the page as the server escaped
//   or sanitised it, or as textContent).
(function () {
  "use strict";

  var REFRESH_MS = 60000;
  var LABELS = {
    operational: "Operational",
    degraded_performance: "Degraded performance",
    partial_outage: "Partial outage",
    major_outage: "Major outage",
    under_maintenance: "Under maintenance"
  };
  var ICONS = {
    operational: "icon-operational",
    degraded_performance: "icon-degraded",
    partial_outage: "icon-partial",
    major_outage: "icon-major",
    under_maintenance: "icon-maintenance"
  };
  var SEVERITY = ["operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage"];
  var INDICATOR_STATUS = {
    none: "operational", minor: "partial_outage", major: "partial_outage", critical: "major_outage",
    maintenance: "under_maintenance"
  };

  function each(nodes, callback) {
    Array.prototype.forEach.call(nodes, callback);
  }

  // --- Times in the viewer's zone ("Jun 20, 2022 - 16:48 CEST") ---------------------------------------------

  var timeOptions = {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short"
  };

  function parts(locale, date) {
    var result = {};
    new Intl.DateTimeFormat(locale, timeOptions).formatToParts(date).forEach(function (part) {
      result[part.type] = part.value;
    });
    return result;
  }

  function formatTime(date) {
    var p = parts("en-US", date);
    var zone = p.timeZoneName;
    // en-US only abbreviates American zones ("GMT+2" for Madrid); en-GB knows the European ones ("CEST").
    if (/^GMT[+-]/.test(zone)) {
      var british = parts("en-GB", date).timeZoneName;
      if (!/^GMT[+-]/.test(british)) {
        zone = british;
      }
    }
    return p.month + " " + p.day + ", " + p.year + " - " + p.hour + ":" + p.minute + " " + zone;
  }

  function localTimes(root) {
    each(root.querySelectorAll("time[data-localtime][datetime]"), function (node) {
      var date = new Date(node.getAttribute("datetime"));
      if (isNaN(date.getTime())) {
        return;
      }
      if (!node.title) {
        node.title = node.textContent;
      }
      node.textContent = formatTime(date);
    });
  }

  // --- Uptime bars: one tab stop per component ------------------------------------------------------------

  function setTabStop(bar, on) {
    bar.tabIndex = on ? 0 : -1;
    each(bar.querySelectorAll("a"), function (link) {
      link.tabIndex = on ? 0 : -1;
    });
  }

  function setupBars(root) {
    each(root.querySelectorAll("ol.bars"), function (list) {
      var bars = list.querySelectorAll(".bar");
      each(bars, function (bar, index) {
        setTabStop(bar, index === bars.length - 1);
      });
    });
  }

  function visibleBars(bar) {
    return Array.prototype.filter.call(bar.parentNode.children, function (node) {
      return node.offsetParent !== null;
    });
  }

  document.addEventListener("keydown", function (event) {
    var bar = event.target.closest ? event.target.closest(".bar") : null;
    if (!bar) {
      return;
    }
    if (event.key === "Escape") {
      bar.classList.add("dismissed");
      return;
    }
    if (event.target !== bar) {
      return;
    }
    var bars = visibleBars(bar);
    var index = bars.indexOf(bar);
    var target = {ArrowLeft: index - 1, ArrowRight: index + 1, Home: 0, End: bars.length - 1}[event.key];
    if (target === undefined || target < 0 || target >= bars.length || target === index) {
      return;
    }
    event.preventDefault();
    setTabStop(bar, false);
    setTabStop(bars[target], true);
    bars[target].focus();
  });

  function undismiss(event) {
    var bar = event.target.closest ? event.target.closest(".bar.dismissed") : null;
    if (bar && !bar.contains(event.relatedTarget)) {
      bar.classList.remove("dismissed");
    }
  }
  document.addEventListener("focusout", undismiss);
  document.addEventListener("mouseout", undismiss);

  // --- Refresh every 60 s ---------------------------------------------------------------------------------

  var summaryUrl = document.body.getAttribute("data-summary-url");
  var etag = null;
  var lastCheck = 0;

  function setStatus(node, status) {
    node.className = node.className.replace(/\bstatus-[a-z_]+/, "status-" + status);
    node.setAttribute("data-status", status);
    var text = node.querySelector(".status-text");
    if (text) {
      text.textContent = LABELS[status] || status;
    }
    var use = node.querySelector(".status use");
    if (use) {
      use.setAttribute("href", "#" + (ICONS[status] || ICONS.operational));
    }
  }

  function updateBanner(status) {
    var banner = document.querySelector(".status-banner");
    if (!banner || !status) {
      return;
    }
    banner.className = "status-banner indicator-" + status.indicator;
    banner.querySelector(".status-description").textContent = status.description;
    var use = banner.querySelector("use");
    if (use) {
      use.setAttribute("href", "#" + ICONS[INDICATOR_STATUS[status.indicator] || "operational"]);
    }
  }

  // True when the components shown no longer match the page (one appeared, went or should hide).
  function updateComponents(components) {
    var changed = false;
    var shown = {};
    components.forEach(function (component) {
      if (component.group) {
        return;
      }
      var wanted = !component.only_show_if_degraded || component.status !== "operational";
      var node = document.querySelector('[data-component-id="' + CSS.escape(component.id) + '"]');
      if (!node) {
        changed = changed || wanted;
        return;
      }
      shown[component.id] = true;
      if (!wanted) {
        changed = true;
      }
      setStatus(node, component.status);
    });
    each(document.querySelectorAll("[data-component-id]"), function (node) {
      if (!shown[node.getAttribute("data-component-id")]) {
        changed = true;
      }
    });
    each(document.querySelectorAll(".component-group"), function (group) {
      var worst = "operational";
      each(group.querySelectorAll("[data-component-id]"), function (node) {
        var status = node.getAttribute("data-status");
        if (SEVERITY.indexOf(status) > SEVERITY.indexOf(worst)) {
          worst = status;
        }
      });
      setStatus(group, worst);
    });
    return changed;
  }

  function signature(summary) {
    return summary.incidents.concat(summary.scheduled_maintenances).map(function (incident) {
      return incident.id + "@" + incident.updated_at;
    }).sort().join(" ");
  }

  // Replace the page's live regions (and the components, keeping which groups are open) with the server's.
  function reloadRegions() {
    return fetch(window.location.href, {cache: "no-store", credentials: "omit"}).then(function (response) {
      return response.ok ? response.text() : null;
    }).then(function (html) {
      if (!html) {
        return;
      }
      // DOMParser builds an inert document: its scripts never run, its images never load.
      var fresh = new DOMParser().parseFromString(html, "text/html");
      var open = {};
      each(document.querySelectorAll(".component-group[data-group-id]"), function (group) {
        open[group.getAttribute("data-group-id")] = group.open;
      });
      var regions = Array.prototype.slice.call(fresh.querySelectorAll("[data-live-region][id]"));
      var components = fresh.querySelector("section.components");
      if (components) {
        regions.push(components);
      }
      regions.forEach(function (region) {
        var current = region.id ? document.getElementById(region.id) : document.querySelector("section.components");
        if (!current) {
          return;
        }
        var node = document.importNode(region, true);
        each(node.querySelectorAll(".component-group[data-group-id]"), function (group) {
          var id = group.getAttribute("data-group-id");
          if (Object.prototype.hasOwnProperty.call(open, id)) {
            group.open = open[id];
          }
        });
        current.parentNode.replaceChild(node, current);
        localTimes(node);
        setupBars(node);
      });
      var banner = fresh.querySelector(".status-banner");
      var current = document.querySelector(".status-banner");
      if (banner && current) {
        current.parentNode.replaceChild(document.importNode(banner, true), current);
      }
    });
  }

  function apply(summary) {
    updateBanner(summary.status);
    var structural = updateComponents(summary.components || []);
    var incidents = document.getElementById("live-incidents");
    var stale = incidents && incidents.getAttribute("data-signature") !== signature(summary);
    if (structural || stale) {
      return reloadRegions();
    }
    return null;
  }

  function refresh() {
    if (document.hidden) {
      return;
    }
    lastCheck = Date.now();
    var headers = {Accept: "application/json"};
    if (etag) {
      headers["If-None-Match"] = etag;
    }
    // no-store: the browser neither answers from its cache nor adds its own validators; a 304 reaches here.
    fetch(summaryUrl, {headers: headers, cache: "no-store", credentials: "omit"}).then(function (response) {
      if (response.status !== 200) {
        return null;
      }
      etag = response.headers.get("ETag");
      return response.json();
    }).then(function (summary) {
      if (summary) {
        return apply(summary);
      }
      return null;
    }).catch(function () {
      // Offline or the server busy: the page keeps what it shows and tries again at the next tick.
    });
  }

  function start() {
    localTimes(document);
    setupBars(document);
    if (summaryUrl && window.fetch && window.DOMParser) {
      window.setInterval(refresh, REFRESH_MS);
      document.addEventListener("visibilitychange", function () {
        if (!document.hidden && Date.now() - lastCheck >= REFRESH_MS) {
          refresh();
        }
      });
      // Exposed for tests and for anyone who wants the page fresh now.
      window.statuspageRefresh = refresh;
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
