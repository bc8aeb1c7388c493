// The admin's incident forms (create, post an update; admin/incidents/incident/service_form.html), loaded after
// the form and its `default-bodies` JSON: a file rather than an inline script, so the page works under a
// Content-Security-Policy without 'unsafe-inline'.
(function () {
  // Swap the body for the new status's default text, unless someone has written their own.
  const defaults = JSON.parse(document.getElementById("default-bodies").textContent);
  const status = document.getElementById("id_status");
  const body = document.getElementById("id_body");
  const known = Object.values(defaults).map((text) => text.trim());
  if (status && body) {
    status.addEventListener("change", () => {
      if (body.value.trim() === "" || known.includes(body.value.trim())) body.value = defaults[status.value] || "";
    });
  }
  // On the create form, offer only the chosen page's components.
  const page = document.getElementById("id_page");
  if (page) {
    const show = () => document.querySelectorAll(".component-row").forEach((row) => {
      row.hidden = page.value !== "" && row.dataset.page !== page.value;
    });
    page.addEventListener("change", show);
    show();
  }
})();
