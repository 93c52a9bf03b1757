// A small sortable, filterable table. The caller keeps one instance per view and
// calls update(rows) on every live refresh; sort and filter survive refreshes.
import { h, replaceChildren } from "/js/dom.js";

/**
 * columns: [{key, label, value(row) (for sorting/filtering), cell(row) → Node|string, numeric, className}]
 * Returns {el, update(rows)}.
 */
export function sortableTable({ id, columns, filterPlaceholder = "Filter…", rowProps = () => ({}), emptyText = "Nothing yet.", maxRows = 500 }) {
  let rows = [];
  let sortKey = null;
  let sortDir = 1;
  const filterInput = h("input", { type: "text", placeholder: filterPlaceholder, dataset: { testid: `${id}-filter` }, style: { maxWidth: "280px" } });
  const head = h("tr");
  const body = h("tbody");
  const table = h("table", { class: "data", id }, h("thead", {}, head), body);
  const count = h("span", { class: "small muted" });

  function drawHead() {
    replaceChildren(head, columns.map((col) => {
      const classes = ["sortable", col.numeric ? "num" : "", sortKey === col.key ? (sortDir > 0 ? "sorted-asc" : "sorted-desc") : ""];
      return h("th", {
        class: classes.filter(Boolean).join(" "),
        dataset: { key: col.key },
        title: col.title ?? "Sort",
        onclick: () => {
          sortDir = sortKey === col.key ? -sortDir : col.numeric ? -1 : 1;
          sortKey = col.key;
          draw();
        },
      }, col.label);
    }));
  }

  function draw() {
    drawHead();
    const needle = filterInput.value.trim().toLowerCase();
    let shown = needle
      ? rows.filter((row) => columns.some((col) => String(col.value(row) ?? "").toLowerCase().includes(needle)))
      : [...rows];
    if (sortKey) {
      const col = columns.find((c) => c.key === sortKey);
      shown.sort((a, b) => {
        const va = col.value(a);
        const vb = col.value(b);
        if (va === vb) return 0;
        if (va === null || va === undefined) return 1; // missing values last either way
        if (vb === null || vb === undefined) return -1;
        return (va < vb ? -1 : 1) * sortDir;
      });
    }
    count.textContent = needle ? `${shown.length} of ${rows.length} rows` : `${rows.length} rows`;
    // Thousands of rows re-rendered on every live update would stall the page: draw the
    // first maxRows after sorting/filtering and say so.
    if (shown.length > maxRows) {
      count.textContent += ` (showing the first ${maxRows}; filter or sort to see others)`;
      shown = shown.slice(0, maxRows);
    }
    replaceChildren(body, shown.length
      ? shown.map((row) => h("tr", rowProps(row), columns.map((col) =>
        h("td", { class: [col.numeric ? "num" : "", col.className?.(row) ?? ""].filter(Boolean).join(" ") || null }, col.cell ? col.cell(row) : String(col.value(row) ?? "–")))))
      : h("tr", {}, h("td", { colSpan: columns.length, class: "muted" }, emptyText)));
  }

  filterInput.addEventListener("input", draw);
  const el = h("div", {}, h("div", { class: "controls" }, filterInput, count), h("div", { class: "table-wrap" }, table));
  return {
    el,
    update(newRows, newColumns) {
      rows = newRows;
      if (newColumns) columns = newColumns;
      draw();
    },
  };
}
