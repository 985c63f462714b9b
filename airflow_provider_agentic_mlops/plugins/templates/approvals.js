// Approve / Deny buttons of the approvals page (served as a file: no inline script, so a strict
// Content-Security-Policy can forbid inline scripts). Decisions are JSON POSTs to the plugin's API.
(function () {
  const root = document.getElementById("approvals-script").dataset.root;
  document.querySelectorAll("button[data-verb]").forEach((button) => button.addEventListener("click", async () => {
    const id = button.dataset.id, verb = button.dataset.verb;
    const reason = window.prompt(verb + " request #" + id + "? Optional reason:");
    if (reason === null) return;
    const r = await fetch(root + "/api/approvals/" + id + "/" + verb, {method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json"}, body: JSON.stringify({reason: reason || null})});
    const data = await r.json().catch(() => ({}));
    document.getElementById("msg").textContent = data.message || data.detail || ("HTTP " + r.status);
    if (r.ok) setTimeout(() => location.reload(), 800);
  }));
})();
