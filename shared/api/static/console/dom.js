// Small DOM helpers: elements are built with text nodes only (never innerHTML), so nothing a
// record holds can become markup.

const SVG = "http://www.w3.org/2000/svg";

/** `h("p", {class: "x"}, "text", child)`: an element; `on*` attributes become listeners. */
export function h(tag, attributes, ...children) {
  const element = document.createElement(tag);
  setAttributes(element, attributes);
  append(element, children);
  return element;
}

function setAttributes(element, attributes) {
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
}

function append(element, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function svg(tag, attributes, ...children) {
  const element = document.createElementNS(SVG, tag);
  setAttributes(element, attributes);
  append(element, children);
  return element;
}

export function replace(root, ...children) {
  root.replaceChildren();
  append(root, children);
}

const NUMBER = new Intl.NumberFormat("en");
export const count = (n) => (n === null || n === undefined ? "–" : NUMBER.format(n));

export function when(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return date.toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "medium" });
}

export function ago(iso) {
  if (!iso) return "never";
  return seconds(Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000)) + " ago";
}

export function seconds(total) {
  if (total === null || total === undefined) return "–";
  if (total < 90) return `${Math.round(total)} s`;
  if (total < 5400) return `${Math.round(total / 60)} min`;
  if (total < 172800) return `${Math.round(total / 3600)} h`;
  return `${Math.round(total / 86400)} days`;
}

/**
 * A table with a caption; `columns` are `[heading, row => cell]`, a cell being text or a node.
 * Rows without data show `empty` instead.
 */
export function table(caption, columns, rows, empty) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  // A region that scrolls on a narrow screen must be reachable by keyboard.
  return h("div", { class: "table-wrap", tabindex: 0, role: "region", "aria-label": caption },
    h("table", {},
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, columns.map(([heading]) => h("th", { scope: "col" }, heading)))),
      h("tbody", {}, rows.map((row) =>
        h("tr", {}, columns.map(([, cell]) => h("td", {}, cell(row))))))));
}

/** Figures as a description list: `[[term, value], ...]`. */
export function figures(label, pairs) {
  return h("dl", { class: "figures", "aria-label": label },
    pairs.map(([term, value, tone]) => h("div", { class: tone ? `figure ${tone}` : "figure" },
      h("dt", {}, term), h("dd", {}, value))));
}

/** RFC 4180 CSV of `rows` under `headings`, each row an array of values. */
export function csv(headings, rows) {
  const cell = (value) => {
    let text = value === null || value === undefined ? "" : String(value);
    // A spreadsheet would run a cell starting like a formula: keep it text.
    if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return [headings, ...rows].map((row) => row.map(cell).join(",")).join("\r\n") + "\r\n";
}

export function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = h("a", { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
