// Rewrites each <time data-localtime datetime="...Z"> of the public page to the viewer's time zone, in the
// page's format ("Jun 20, 2022 - 16:48 CEST"), and keeps the page-zone text in the title attribute.
(function () {
  "use strict";

  var options = {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short"
  };

  function parts(locale, date) {
    var result = {};
    new Intl.DateTimeFormat(locale, options).formatToParts(date).forEach(function (part) {
      result[part.type] = part.value;
    });
    return result;
  }

  function format(date) {
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

  function rewrite() {
    var nodes = document.querySelectorAll("time[data-localtime][datetime]");
    for (var i = 0; i < nodes.length; i++) {
      var node = nodes[i];
      var date = new Date(node.getAttribute("datetime"));
      if (isNaN(date.getTime())) {
        continue;
      }
      if (!node.title) {
        node.title = node.textContent;
      }
      node.textContent = format(date);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", rewrite);
  } else {
    rewrite();
  }
})();
