// Links to Airflow's own pages (a DAG, a run: target="_top") open in Airflow's UI itself, not inside the
// plugin's frame. Airflow shows the pages in an iframe sandboxed without allow-top-navigation, which blocks
// target="_top"; the frame is of Airflow's origin, so the link is followed by the top window's document.
// Outside an iframe (a page opened on its own) the link works as it is.
document.addEventListener("click", (event) => {
  const link = event.target.closest ? event.target.closest('a[target="_top"]') : null;
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
  top.body.appendChild(outer);
  outer.click();
  outer.remove();
});
