// Approve / Deny buttons of the approvals page (served as a file: no inline script, so a strict
// Content-Security-Policy can forbid inline scripts). Decisions are JSON POSTs to the plugin's API.
// No window.prompt/confirm/alert: Airflow's UI shows the page in an iframe sandboxed without allow-modals,
// where Chromium ignores them. The reason is the request's own field; answers are shown in the page.
// After a decision the page reloads (the request moves to the history); the answer is kept for the
// reloaded page in sessionStorage, so it stays on screen instead of vanishing with the reload. An answer
// that records nothing is shown next to the request, which stays.
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
    const field = document.getElementById("reason-" + id);
    const answer = document.getElementById("answer-" + id) || msg;
    const buttons = document.querySelectorAll('button[data-id="' + id + '"]');
    const reason = field ? field.value.trim() : "";
    buttons.forEach((b) => { b.disabled = true; });
    answer.textContent = (verb === "approve" ? "Approving" : "Denying") + " request #" + id + " ...";
    let text, ok = false;
    try {
      const r = await fetch(root + "/api/approvals/" + id + "/" + verb, {method: "POST", credentials: "same-origin",
          headers: {"Content-Type": "application/json"}, body: JSON.stringify({reason: reason || null})});
      const data = await r.json().catch(() => ({}));
      text = data.message || (typeof data.detail === "string" ? data.detail : "") || ("HTTP " + r.status);
      ok = r.ok;
    } catch (err) {
      text = "Request #" + id + ": the server could not be reached (" + err + "); nothing was recorded. Try again.";
    }
    answer.textContent = text;
    if (ok) {
      window.sessionStorage.setItem(KEPT, text);
      setTimeout(() => location.reload(), 800);
    } else {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }));
})();
