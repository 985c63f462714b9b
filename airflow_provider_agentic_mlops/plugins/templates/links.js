// Links to Airflow's own pages (a DAG, a run: target="_top") open in Airflow's UI itself, not inside the
// plugin's frame, and links opened next to the page (a request's reports: target="_blank") in a new window.
// Airflow shows the pages in an iframe sandboxed without allow-top-navigation or allow-popups, which blocks
// both; the frame is of Airflow's origin, so the link is followed by the top window's document.
// Outside an iframe (a page opened on its own) the link works as it is.
document.addEventListener("click", (event) => {
  const link = event.target.closest ? event.target.closest('a[target="_top"], a[target="_blank"]') : null;
  if (!link || window.top === window || event.defaultPrevented || event.button !== 0) return;
  if (event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;  // new tab or window: the browser's
  let top;
  try {
    top = window.top.document;
  } catch (error) {
    return;  // embedded by another origin: leave the link to the browser
  }
  event.preventDefault();
  const outer = top.createElement("a");
  outer.href = link.href;
  outer.target = link.target;
  outer.rel = "noopener";
  top.body.appendChild(outer);
  outer.click();
  outer.remove();
});

// Times: the page gives each as <time datetime="...Z">YYYY-MM-DD HH:MM UTC</time>. Airflow's UI keeps the zone its
// user chose in localStorage ("timezone", a JSON string; none chosen: the browser's zone, as Airflow shows then),
// of the origin this frame shares: show each time there. A zone the browser does not know, or no access to the
// storage, leaves the UTC text.
(() => {
  let zone;
  try {
    const stored = window.localStorage.getItem("timezone");
    zone = stored ? JSON.parse(stored) : Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (error) {
    zone = "UTC";
  }
  let format;
  try {
    format = new Intl.DateTimeFormat("en-CA", {
      timeZone: typeof zone === "string" && zone ? zone : "UTC",
      year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
      hourCycle: "h23", timeZoneName: "short",
    });
  } catch (error) {
    format = null;  // RangeError: not a zone this browser knows
  }
  for (const element of document.querySelectorAll("time[datetime]")) {
    const instant = new Date(element.dateTime);
    if (format && !Number.isNaN(instant.getTime())) {
      const part = Object.fromEntries(format.formatToParts(instant).map((p) => [p.type, p.value]));
      const name = part.timeZoneName === "GMT" ? "UTC" : part.timeZoneName;
      element.title = element.textContent;  // the stored UTC time, on hover
      element.textContent = `${part.year}-${part.month}-${part.day} ${part.hour}:${part.minute} ${name}`;
    }
    element.dataset.zone = format ? format.resolvedOptions().timeZone : "UTC";
  }
})();
