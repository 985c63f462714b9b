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
