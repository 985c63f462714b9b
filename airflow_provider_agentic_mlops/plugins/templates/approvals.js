// Approve / Deny buttons of the approvals page (served as a file: no inline script, so a strict
// Content-Security-Policy can forbid inline scripts). Decisions are JSON POSTs to the plugin's API.
// After a decision the page reloads (the request moves to the history); the answer is kept for the
// reloaded page in sessionStorage, so it stays on screen instead of vanishing with the reload.
(function () {
  const root = document.getElementById("approvals-script").dataset.root;
  const msg = document.getElementById("msg");
  const KEPT = "agentic-mlops-approvals-answer";
  const kept = window.sessionStorage.getItem(KEPT);
  if (kept) {
    msg.textContent = kept;
    window.sessionStorage.removeItem(KEPT);
  }
  document.querySelectorAll("button[data-verb]").forEach((button) => button.addEventListener("click", async () => {
    const id = button.dataset.id, verb = button.dataset.verb;
    const reason = window.prompt(verb + " request #" + id + "? Optional reason:");
    if (reason === null) return;
    const r = await fetch(root + "/api/approvals/" + id + "/" + verb, {method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json"}, body: JSON.stringify({reason: reason || null})});
    const data = await r.json().catch(() => ({}));
    const answer = data.message || data.detail || ("HTTP " + r.status);
    msg.textContent = answer;
    if (r.ok) {
      window.sessionStorage.setItem(KEPT, answer);
      setTimeout(() => location.reload(), 800);
    }
  }));
})();
