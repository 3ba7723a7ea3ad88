// Pieces every section uses: the note on what needs another role, a button that runs an
// action, reports its outcome and redraws, and one that asks first.

import { h } from "./dom.js";

export function needs(role, what) {
  return h("p", { class: "needs" }, `${what} needs the ${role} role.`);
}

/** A button that disables itself while `run` runs, then reports and redraws. */
export function action(label, ctx, run, attributes) {
  const button = h("button", Object.assign({ type: "button" }, attributes || {}), label);
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const message = await run();
      if (message) ctx.notify(message);
      await ctx.refresh();
    } catch (error) {
      ctx.fail(error);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

/** An action that changes something hard to undo: the first click asks (in the page, so a
 *  keyboard or a screen reader meets the question where the button was), the second runs. */
export function confirmed(label, question, ctx, run, attributes) {
  const holder = h("span", { class: "confirm" });
  const ask = h("button", Object.assign({ type: "button", class: "secondary" }, attributes || {}), label);
  ask.addEventListener("click", () => {
    const yes = action(`Yes, ${label.charAt(0).toLowerCase()}${label.slice(1)}`, ctx, run, { class: "danger" });
    const no = h("button", { type: "button", class: "secondary" }, "Cancel");
    no.addEventListener("click", () => { holder.replaceChildren(ask); ask.focus(); });
    holder.replaceChildren(h("span", { role: "alert" }, question), yes, no);
    yes.focus();
  });
  holder.append(ask);
  return holder;
}
